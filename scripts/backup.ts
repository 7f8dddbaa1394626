/**
 * npm run backup -- <file>
 *
 * An online backup of the Tandem in TANDEM_DATA_DIR (default ./data): a consistent copy of the
 * database (the console may keep running) and the secret key, in one archive readable only with
 * the passphrase (TANDEM_BACKUP_PASSPHRASE, or asked twice). The format is described in
 * server/domain/backup.ts and README.md.
 */
import path from 'node:path';
import { openDb } from '../server/db/client';
import { writeBackup } from '../server/domain/backup';
import { openSecretKeys } from '../server/domain/keys';
import { backupPassphrase, dataDirWithDatabase, fail, log, main } from './lib/admin';

main(async () => {
  const [file, ...rest] = process.argv.slice(2);
  if (!file || file.startsWith('-') || rest.length) fail('usage: npm run backup -- <file>');
  const { dir, dbFile } = dataDirWithDatabase();
  const passphrase = await backupPassphrase(true);
  const db = openDb(dbFile);
  try {
    const keys = openSecretKeys(db, dir, { log });
    const s = await writeBackup({ db, keys, passphrase, file: path.resolve(file) });
    console.log(
      `backed up ${dir} to ${s.file} (${s.bytes} bytes; database ${s.databaseBytes} bytes; key ${s.keyId}; ${s.createdAt})`,
    );
    if (s.unreadable.length) {
      log(
        `warning: the secret of ${s.unreadable.join(', ')} cannot be decrypted with the current key; it is in the backup as it is, and stays unreadable after a restore`,
      );
    }
    console.log('Keep the passphrase apart from the backup: without it the backup cannot be opened.');
  } finally {
    db.$client.close();
  }
});
