import { UsageError } from './usage-error.js';

/** The first line of stdin (`echo "$PASSWORD" | berth user add …`), without its line ending. */
export async function readPasswordFromStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const password = Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
  if (password === '') throw new UsageError('--password-stdin: stdin held no password');
  return password;
}

/** Asks twice on the terminal, without echo; the two must match. */
export async function readPasswordFromTerminal(): Promise<string> {
  if (process.stdin.isTTY !== true) throw new UsageError('no terminal to ask for the password on: pipe it in with --password-stdin');
  const first = await ask('Password: ');
  if (first === '') throw new UsageError('empty password');
  const second = await ask('Password again: ');
  if (first !== second) throw new UsageError('the passwords did not match');
  return first;
}

/** Reads one line in raw mode, echoing nothing; Ctrl-C and Ctrl-D give up. */
function ask(prompt: string): Promise<string> {
  process.stderr.write(prompt);
  const stdin = process.stdin;
  stdin.setRawMode(true);
  stdin.resume();
  return new Promise((resolve, reject) => {
    let typed = '';
    const done = (error?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(typed);
    };
    const onData = (chunk: Buffer) => {
      for (const char of chunk.toString('utf8')) {
        if (char === '\r' || char === '\n') return done();
        if (char === '\u0003' || char === '\u0004') return done(new UsageError('no password given'));
        if (char === '\u007f' || char === '\b') typed = typed.slice(0, -1);
        else typed += char;
      }
    };
    stdin.on('data', onData);
  });
}
