export async function register() {
  if (process.env.NEXT_RUNTIME === 'nodejs') {
    const { recordPeerAddress } = await import('./server/peer');
    recordPeerAddress();
    const { readyApp } = await import('./server/app');
    try {
      await readyApp();
    } catch (e) {
      // Another process holds the data directory, or the start is misconfigured: say why and stop.
      console.error(`[tandem] cannot start: ${e instanceof Error ? e.message : String(e)}`);
      process.exit(1);
    }
  }
}
