export async function register() {
  if (process.env.NEXT_RUNTIME === 'nodejs') {
    const { readyApp } = await import('./server/app');
    await readyApp();
  }
}
