/**
 * npm run rotate-key
 *
 * Re-encrypts every stored secret of the Tandem in TANDEM_DATA_DIR under a new key, in one
 * transaction. With the key file (secret.key), the new key is made here and replaces the file
 * atomically; a running console follows it. With TANDEM_SECRET_KEY, give the new key or
 * passphrase in TANDEM_NEW_SECRET_KEY, stop Tandem, rotate, and start it with
 * TANDEM_SECRET_KEY set to the new value.
 */
import { openDb } from '../server/db/client';
import { openSecretKeys, rotateSecretKey } from '../server/domain/keys';
import { dataDirWithDatabase, log, main } from './lib/admin';

main(async () => {
  const { dir, dbFile } = dataDirWithDatabase();
  const db = openDb(dbFile);
  try {
    const keys = openSecretKeys(db, dir, { log });
    const r = rotateSecretKey(db, keys, { newValue: process.env.TANDEM_NEW_SECRET_KEY || undefined });
    console.log(`re-encrypted ${r.count} secret(s): key ${r.oldKeyId} → ${r.newKeyId}`);
    if (r.source === 'file')
      console.log(`${keys.file} now holds the new key (a running console follows it).`);
    else
      console.log(
        'Set TANDEM_SECRET_KEY to the value of TANDEM_NEW_SECRET_KEY before Tandem starts again: until then no stored secret can be decrypted.',
      );
    console.log('Backups made before now hold the old key: make a new backup (npm run backup -- <file>).');
  } finally {
    db.$client.close();
  }
});
