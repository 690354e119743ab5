/** The parent's side of bench/lib/loadgen.mjs: fork it once, send jobs, await results. */
import { fork } from 'node:child_process';
import path from 'node:path';

export class LoadGen {
  constructor() {
    this.child = fork(path.join(import.meta.dirname, 'loadgen.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.pending = new Map();
    this.nextId = 1;
    this.child.on('message', ({ id, result, error }) => {
      const p = this.pending.get(id);
      if (!p) return;
      this.pending.delete(id);
      if (error) p.reject(new Error(`loadgen: ${error}`));
      else p.resolve(result);
    });
    this.child.on('exit', (code) => {
      for (const p of this.pending.values()) p.reject(new Error(`loadgen exited (${code})`));
      this.pending.clear();
    });
  }

  get pid() {
    return this.child.pid;
  }

  run(job) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.send({ id, job });
    });
  }

  close() {
    if (this.child.connected) this.child.disconnect();
  }
}
