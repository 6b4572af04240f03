import { openExampleApp } from './app.js';

const port = Number(process.env['PORT'] ?? 3000);
const { app } = await openExampleApp({ dataDir: process.env['BERTH_DATA'] ?? './data' });
app.listen(port, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${port}`));
