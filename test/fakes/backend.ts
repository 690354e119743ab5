/**
 * An in-memory {@link ExecutorBackend} for unit tests of the warm pool, the
 * executor and the scheduler: instances record what they were asked to do,
 * and runs answer from the event (`{ "do": "ok" | "fail" | "hold" | "big" }`)
 * unless a test sets its own {@link FakeBackend.answer}. The real backends
 * are tested against the same interface in test/contracts/backend-contract.ts.
 */
import { BuildError, PlatformError } from '../../core/errors.js';
import type { CreateOptions, ExecutorBackend, Instance, InstanceSpec, PlatformFaultReport, RunAnswer } from '../../executor/types.js';
import type { InitRequest, RunRequest } from '../../runtime/protocol.js';

/** One run any fake instance performed. */
export interface RunRecord {
  activationId: string;
  /** The function the instance was loaded with (its /init name). */
  fn: string;
  /** The backend's executor id. */
  executorId: string;
}

export interface FakeBackendOptions {
  /** Names the instances (`<executorId>-<n>`) and the runs; default `fake`. */
  executorId?: string;
  /** Where runs are recorded; pass one array to several backends to see every run in order. */
  runs?: RunRecord[];
  /** Instances get resize(), as Docker's do: one generic pool serves every memory size. */
  resizable?: boolean;
}

const ok = (result: unknown): RunAnswer => ({ ok: true, resultJson: JSON.stringify(result), result, logs: [], logsTruncated: false, durationMs: 1 });

export class FakeInstance implements Instance {
  readonly inits: InitRequest[] = [];
  /** Every size it was resized to, in order. */
  readonly resizes: number[] = [];
  resize?: (memoryMb: number) => Promise<void>;
  readonly packageDirs: string[] = [];
  destroyed = false;
  /** Whether it was still frozen when destroyed (the pool must thaw it first). */
  destroyedPaused = false;
  paused = false;
  pauses = 0;
  resumes = 0;
  pause?: () => Promise<void>;
  resume?: () => Promise<void>;

  constructor(
    readonly id: string,
    public spec: InstanceSpec,
    private readonly backend: FakeBackend,
  ) {}

  /** The function loaded by /init, '' before. */
  get fn(): string {
    return this.inits[0]?.name ?? '';
  }

  async preparePackage(fill: (hostDir: string) => Promise<void>): Promise<string> {
    const dir = `/fake/${this.id}/package`;
    await fill(dir);
    this.packageDirs.push(dir);
    return dir;
  }

  async init(req: InitRequest): Promise<void> {
    if (this.inits.length > 0) throw new Error('second init');
    if (this.backend.failInit) throw new BuildError('boom on import', { errorType: 'Error' }, 'INIT_FAILED');
    this.inits.push(req);
    this.backend.inits.push(req);
  }

  async run(req: RunRequest): Promise<RunAnswer> {
    this.backend.runs.push({ activationId: req.activationId, fn: this.fn, executorId: this.backend.executorId });
    if (this.backend.answer) return await this.backend.answer(req, this);
    const ev = JSON.parse(req.payload) as { do?: string } | null;
    switch (ev?.do) {
      case 'hold':
        await this.backend.gate;
        break;
      case 'big':
        return ok('x'.repeat(200_000));
      case 'fail':
        return { ok: false, error: { errorType: 'Error', errorMessage: 'boom' }, logs: [], logsTruncated: false, durationMs: 1 };
    }
    return ok({ ran: req.activationId });
  }

  platformFaultSince(sinceMs: number): PlatformFaultReport | undefined {
    this.backend.askedSince.push(sinceMs);
    return this.backend.platformFault;
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    if (this.backend.destroyGate !== undefined) await this.backend.destroyGate;
    if (this.destroyed) return;
    this.destroyed = true;
    this.destroyedPaused = this.paused;
    this.backend.liveMb -= this.spec.memoryMb;
  }
}

export class FakeBackend implements ExecutorBackend {
  readonly name = 'process' as const;
  readonly resizable: boolean;
  readonly executorId: string;
  readonly runs: RunRecord[];
  readonly created: FakeInstance[] = [];
  /** Every /init of every instance, in order. */
  readonly inits: InitRequest[] = [];
  /** createInstance calls, including failed ones. */
  createAttempts = 0;
  /** Whether each createInstance call was a pool pre-start (its CreateOptions.prestart), in call order. */
  readonly prestarts: boolean[] = [];
  /** createInstance calls in flight now, and the most there ever were at once. */
  creatingNow = 0;
  maxCreatingNow = 0;
  liveMb = 0;
  maxLiveMb = 0;
  failInit = false;
  failCreate = false;
  /** resize() of a resizable backend's instances rejects, as Docker's does when `docker update` fails. */
  failResize = false;
  /** Instances get pause()/resume(). */
  pausable = false;
  /** When set, createInstance waits for it. */
  createGate: Promise<void> | undefined;
  /** When set, an instance's destroy() waits for it (a `docker rm` taking its time). */
  destroyGate: Promise<void> | undefined;
  /** What a `{ "do": "hold" }` run waits for. */
  gate: Promise<void> = Promise.resolve();
  /** Replaces the event-driven answer of every run. */
  answer: ((req: RunRequest, instance: FakeInstance) => RunAnswer | Promise<RunAnswer>) | undefined;
  /** What the platform API "saw" for any instance ({@link Instance.platformFaultSince}). */
  platformFault: PlatformFaultReport | undefined;
  /** The `sinceMs` of every platformFaultSince question. */
  readonly askedSince: number[] = [];
  private n = 0;

  constructor(opts: FakeBackendOptions = {}) {
    this.executorId = opts.executorId ?? 'fake';
    this.runs = opts.runs ?? [];
    this.resizable = opts.resizable ?? false;
  }

  async start(): Promise<void> {}

  async createInstance(spec: InstanceSpec, opts: CreateOptions = {}): Promise<Instance> {
    this.createAttempts++;
    this.prestarts.push(opts.prestart === true);
    this.maxCreatingNow = Math.max(this.maxCreatingNow, ++this.creatingNow);
    try {
      if (this.createGate !== undefined) await this.createGate;
      else await Promise.resolve();
    } finally {
      this.creatingNow--;
    }
    if (this.failCreate) throw new Error('cannot start');
    const inst = new FakeInstance(`${this.executorId}-${++this.n}`, spec, this);
    if (this.pausable) {
      inst.pause = async () => {
        inst.paused = true;
        inst.pauses++;
      };
      inst.resume = async () => {
        inst.paused = false;
        inst.resumes++;
      };
    }
    if (this.resizable) {
      inst.resize = async (memoryMb) => {
        if (this.failResize) throw new PlatformError('INSTANCE_RESIZE_FAILED', `cannot resize ${inst.id}`);
        this.liveMb += memoryMb - inst.spec.memoryMb;
        this.maxLiveMb = Math.max(this.maxLiveMb, this.liveMb);
        inst.spec = { ...inst.spec, memoryMb };
        inst.resizes.push(memoryMb);
      };
    }
    this.created.push(inst);
    this.liveMb += spec.memoryMb;
    this.maxLiveMb = Math.max(this.maxLiveMb, this.liveMb);
    return inst;
  }

  async close(): Promise<void> {
    await Promise.all(this.created.map((i) => i.destroy()));
  }

  /** Instances not destroyed. */
  live(): FakeInstance[] {
    return this.created.filter((i) => !i.destroyed);
  }
}
