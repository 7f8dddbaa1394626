/**
 * npm run restore -- <file> [--force]
 *
 * Restores a backup made by `npm run backup` into TANDEM_DATA_DIR (default ./data). Refuses a
 * non-empty data directory unless --force (stop Tandem first). Checks that the passphrase
 * (TANDEM_BACKUP_PASSPHRASE, or asked) opens the backup and that every stored secret decrypts
 * with the restored key before anything is written.
 */
import path from 'node:path';
import { dataDir } from '../server/db/client';
import { restoreBackup } from '../server/domain/backup';
import { backupPassphrase, fail, log, main } from './lib/admin';

main(async () => {
  const args = process.argv.slice(2);
  const force = args.includes('--force');
  const files = args.filter((a) => a !== '--force');
  if (files.length !== 1 || files[0]!.startsWith('-')) fail('usage: npm run restore -- <file> [--force]');
  const dir = dataDir();
  const passphrase = await backupPassphrase(false);
  const r = await restoreBackup({ file: path.resolve(files[0]!), dataDir: dir, passphrase, force, log });
  console.log(
    `restored the backup of ${r.createdAt} into ${r.dataDir}: ${r.sites} site(s), ${r.secrets} secret(s) checked, ` +
      `${r.replicas} replica(s), ${r.tasks} task(s), ${r.history} history row(s); key ${r.keyId}. Everyone signs in again.`,
  );
  for (const w of r.warnings) log(`note: ${w}`);
});
