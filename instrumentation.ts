export async function register() {
  if (process.env.NEXT_RUNTIME === 'nodejs') {
    const { recordPeerAddress } = await import('./server/peer');
    recordPeerAddress();
    const { readyApp } = await import('./server/app');
    await readyApp();
  }
}
