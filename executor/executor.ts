import type { Bus, DeliveryInfo, Subscription } from '../bus/types.js';
import type { Topology } from '../bus/topology.js';
import { BriskError, BuildError, isOutage, serializeError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { fnLabel, type Metrics } from '../core/metrics.js';
import type { UsageMeter } from '../metering/usage-meter.js';
import { parseControl, parseDispatch } from '../core/schemas.js';
import type { Activation, ActivationStatus, Completion, Dispatch, ExecutorBackendName, FunctionVersion, Heartbeat, InvocationRequest, InvocationResult, ProvisionMessage } from '../core/types.js';
import { finalRecord, functionError, platformError, retryRecord, type RunRecordParts } from '../invocations/activation-records.js';
import type { DeadLetterOffice } from '../invocations/dead-letter-office.js';
import type { DeadLetterReason } from '../invocations/dead-letters.js';
import type { RetryPolicy } from '../invocations/retry-policy.js';
import type { RunResponse } from '../runtime/protocol.js';
import type { KeyValueStore, MetadataStore } from '../storage/types.js';
import type { CodeCache } from './code-cache.js';
import { FunctionVersions } from './function-versions.js';
import { InstanceFailure, type Instance, type PlatformFaultReport, type RunAnswer } from './types.js';
import { FunctionLoadError, type ProvisionedShare, type WarmPool } from './warm-pool.js';

export interface ExecutorOptions {
  id: string;
  backend: ExecutorBackendName;
  bus: Bus;
  topology: Topology;
  store: MetadataStore;
  pool: WarmPool;
  code: CodeCache;
  logger: Logger;
  heartbeatMs: number;
  /** Activations this executor runs at once (bus prefetch). */
  concurrency: number;
  /** Prometheus metrics of this process. */
  metrics?: Metrics;
  /** Usage metering (invocations, GB-seconds …) per namespace and function. */
  meter?: UsageMeter;
  /** Where async invocations go when their last retry failed. */
  deadLetters: DeadLetterOffice;
  /** Run claims: one run per (activation, attempt) even when a dispatch arrives twice. */
  kv: KeyValueStore;
  /** Whether and when a failed async run is tried again (function `retries`, platform retries, event age). */
  retry: RetryPolicy;
  /** The stored versions dispatches are checked against and run as. Default: read through `store`. */
  versions?: FunctionVersions;
}

/** What one run produced, before it becomes a record, a reply and a completion. */
interface RunOutcome extends RunRecordParts {
  /** A platform fault of this executor (counts toward its health). */
  systemError: boolean;
  /** Final, dead-lettered for this reason: no retry. */
  deadLetter?: DeadLetterReason;
}

/** The outcome of an invocation this executor did not run (its version deleted, its executor lost). */
function notRun(code: Parameters<typeof platformError>[0], message: string): RunOutcome {
  return { status: 'platform_error', error: platformError(code, message), logs: [], logsTruncated: false, coldStart: false, startedAt: new Date().toISOString(), durationMs: 0, systemError: false };
}

/**
 * The execution engine's service loop: takes dispatches from its own queue,
 * runs each on an instance from the warm pool, writes the final activation
 * record exactly once, answers a waiting gateway and tells the scheduler the
 * run is over. Announces itself with heartbeats carrying its capacity and the
 * warm instances it holds.
 */
export class Executor {
  private subscription: Subscription | undefined;
  /** Warm sync calls gateways placed here themselves. */
  private direct: Subscription | undefined;
  private control: Subscription | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private systemErrors = 0;
  private draining = false;
  private inFlight = 0;
  /** Activations running in this process (a redelivery of one of them is not a lost run). */
  private readonly running = new Set<string>();
  /** Activations taking or holding an instance right now (not yet released): a heartbeat's `running`. */
  private readonly holding = new Set<string>();
  /** The last provision round applied, per provisioner (an older round arriving late is ignored). */
  private provisionRound: { provisioner: string; round: number } | undefined;
  private readonly versions: FunctionVersions;

  constructor(private readonly o: ExecutorOptions) {
    this.versions = o.versions ?? new FunctionVersions(o.store);
  }

  get queue(): string {
    return this.o.topology.executorQueue(this.o.id);
  }

  /** Where gateways send warm sync calls (exclusive: gone with this executor's connection). */
  get directQueue(): string {
    return this.o.topology.directQueue(this.o.id);
  }

  async start(): Promise<void> {
    await this.o.bus.assertQueue(this.queue, { durable: true });
    await this.o.bus.assertQueue(this.directQueue, { durable: false, exclusive: true });
    this.subscription = await this.o.bus.consume<Dispatch>(this.queue, (d, info) => this.handle(d, info), {
      prefetch: this.o.concurrency,
      parse: parseDispatch,
    });
    this.direct = await this.o.bus.consume<Dispatch>(this.directQueue, (d, info) => this.handle(d, info), {
      prefetch: this.o.concurrency,
      parse: parseDispatch,
    });
    this.control = await this.o.bus.subscribe(this.o.topology.controlTopic, (raw) => this.onControl(raw));
    await this.sendHeartbeat();
    this.heartbeatTimer = setInterval(() => {
      this.sendHeartbeat().catch((err: unknown) => this.o.logger.warn({ err }, 'heartbeat failed'));
    }, this.o.heartbeatMs);
    this.heartbeatTimer.unref();
  }

  /**
   * Drain: announce it (schedulers stop placing work here and ask executors
   * with room to pre-warm this one's warm functions), keep serving what was
   * already sent here for {@link DRAIN_GRACE_HEARTBEATS} heartbeats while
   * those instances load, then stop taking work, let in-flight runs finish,
   * hand back what is still queued here and send a last `leaving` heartbeat.
   */
  async stop(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    await this.sendHeartbeat().catch(() => undefined);
    if (this.o.pool.stats().warm.length > 0) await sleep(DRAIN_GRACE_HEARTBEATS * this.o.heartbeatMs);
    await this.control?.cancel();
    await this.subscription?.cancel();
    await this.direct?.cancel();
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    await this.handBack(this.queue);
    // Direct calls still queued: their gateways keep waiting; a scheduler places them now.
    await this.handBack(this.directQueue);
    await this.sendHeartbeat(true).catch(() => undefined);
    await this.o.pool.close();
    await this.o.meter?.close();
  }

  /** Move dispatches still waiting in one of this executor's queues back to the invoke queue. */
  private async handBack(queue: string): Promise<void> {
    const { bus, topology } = this.o;
    const sub = await bus.consume<Dispatch>(
      queue,
      async (d) => bus.send(topology.invokeQueue, { ...d.request }),
      { prefetch: 100, parse: parseDispatch },
    );
    // Let the broker deliver what is left, then stop.
    for (let i = 0; i < 50 && (await bus.queueDepth(queue).catch(() => 0)) > 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    await sub.cancel();
    await bus.deleteQueue(queue).catch(() => undefined);
  }

  /**
   * Count one run where the work happened: metrics, and usage for the bill.
   * Platform faults are not the tenant's usage and are not metered.
   */
  private observe(request: InvocationRequest, o: RunOutcome): void {
    const label = fnLabel(request.fn.namespace, request.fn.name);
    const m = this.o.metrics;
    if (m) {
      m.runs.inc({ function: label, status: o.status });
      if (o.startKind !== undefined) {
        m.starts.inc({ kind: o.startKind });
        m.startLatency.observe({ kind: o.startKind }, (o.startMs ?? 0) / 1000);
      }
      m.execution.observe({ function: label }, Math.max(0, o.durationMs - (o.startMs ?? 0)) / 1000);
    }
    if (o.status === 'platform_error' || o.status === 'throttled') return;
    this.o.meter?.record({
      namespace: request.fn.namespace,
      function: request.fn.name,
      memoryMb: request.fn.memoryMb,
      durationMs: o.durationMs,
      coldStart: o.coldStart,
      error: o.status !== 'success',
    });
  }

  private async sendHeartbeat(leaving = false): Promise<void> {
    const s = this.o.pool.stats();
    const m = this.o.metrics;
    if (m) {
      m.poolSize.reset();
      for (const [size, n] of Object.entries(s.pool)) m.poolSize.set({ memory_mb: size }, n);
      m.warmInstances.set({ state: 'idle' }, s.warm.filter((w) => w.state === 'idle').length);
      m.warmInstances.set({ state: 'busy' }, s.warm.filter((w) => w.state === 'busy').length);
      m.capacity.set({ kind: 'budget' }, s.memoryMb);
      m.capacity.set({ kind: 'used' }, s.memoryUsedMb);
    }
    const hb: Heartbeat = {
      executorId: this.o.id,
      backend: this.o.backend,
      memoryMb: s.memoryMb,
      // Idle instances the pool evicts to make room count as free, so placement does not
      // see an executor full of idle instances as full (it would queue work it could run at once).
      memoryUsedMb: Math.max(0, s.memoryUsedMb - s.reclaimableMb),
      inFlight: this.inFlight,
      pool: s.pool,
      stems: s.stems,
      warm: s.warm,
      systemErrors: this.systemErrors,
      draining: this.draining,
      leaving,
      sentAt: Date.now(),
      direct: true,
      ...(Object.keys(s.provisioned).length > 0 ? { provisioned: s.provisioned } : {}),
      // Always, empty too: a heartbeat without the list reads as an older executor's (see ExecutorRegistry).
      running: [...this.holding],
    };
    await this.o.bus.publish(this.o.topology.heartbeatTopic, hb);
  }

  private async handle(received: Dispatch, info: DeliveryInfo): Promise<void> {
    // A gateway's direct dispatch (warm sync) is at-most-once: delivered again, it may have run already.
    const direct = received.scheduler === undefined;
    if (direct && info.redeliveries > 0) return this.redeliveredDirect(received);
    // A new version's code is fetched while its stored version is read and the run claimed (its hash is checked on arrival).
    this.o.code.prefetch(received.request.fn.codeHash, received.request.fn.codeSize);
    const d = await this.withStoredVersion(received);
    if (d === undefined) return; // its function was deleted meanwhile: already answered and recorded
    const { request } = d;
    if (info.redeliveries > 0) {
      // Delivered again (we crashed or lost the channel mid-run): maybe it already finished.
      const existing = await this.o.store.getActivation(request.fn.namespace, request.activationId);
      if (existing && existing.status !== 'queued' && existing.status !== 'running' && existing.attempts >= request.attempt) {
        this.o.logger.info({ activationId: request.activationId }, 'duplicate delivery of a finished activation; skipped');
        return this.completeSkipped(d, existing.status);
      }
    }
    // No run claim for a direct dispatch: one gateway sent it once, and a redelivery never gets here.
    if (!direct && !(await this.claim(request))) {
      if (info.redeliveries > 0 && (await this.claimedByEarlierLife(request))) return this.lostHere(d);
      this.o.logger.info({ activationId: request.activationId }, 'this attempt already runs (or ran) elsewhere; duplicate dispatch skipped');
      return this.completeSkipped(d, 'success');
    }
    this.inFlight++;
    this.running.add(request.activationId);
    let outcome: RunOutcome;
    try {
      outcome = await this.run(d);
    } finally {
      this.inFlight--;
      this.running.delete(request.activationId);
    }
    this.systemErrors = outcome.systemError ? this.systemErrors + 1 : 0;
    await this.report(d, outcome);
  }

  /**
   * The dispatch with its function version as the metadata store has it: that
   * is what runs, never the message's description (see {@link FunctionVersions}).
   *
   * A dispatch naming a version the store does not have — its function was
   * deleted while the invocation waited — is not run, and ends here (returns
   * undefined): see {@link functionGone}. A dispatch misdescribing a stored
   * version (another code hash, secrets digest …: only a forged message that
   * still carries a valid signature can) is not run and not answered: the
   * error is not retryable, so the bus dead-letters the message with the
   * reason for the operators, and the scheduler that placed it gets its
   * reservation back.
   */
  private async withStoredVersion(d: Dispatch): Promise<Dispatch | undefined> {
    let fn: FunctionVersion;
    try {
      fn = await this.versions.resolve(d.request.fn);
    } catch (err) {
      if (err instanceof BriskError && err.code === 'FUNCTION_VERSION_NOT_FOUND') {
        await this.functionGone(d, err.message);
        return undefined;
      }
      if (err instanceof BriskError && !err.retryable) {
        this.o.logger.error({ err, activationId: d.request.activationId }, 'dispatch refused: it does not match the stored function version');
        await this.completeSkipped(d, 'platform_error');
      }
      throw err;
    }
    return { ...d, request: { ...d.request, fn } };
  }

  /**
   * The invocation's function version was deleted while it waited: there is
   * nothing to run, now or on any retry. The activation ends at once — final
   * record `platform_error` with `FUNCTION_VERSION_NOT_FOUND` (the code never
   * ran, so not a function fault; the platform itself is fine, so the
   * completion does not count against this executor's health, and nothing is
   * metered), a sync caller is answered now (HTTP 404) instead of waiting for
   * its deadline, and async work is dead-lettered (`FUNCTION_DELETED`), so it
   * can be redriven after a redeploy.
   */
  private async functionGone(d: Dispatch, message: string): Promise<void> {
    const { request } = d;
    this.o.logger.info({ activationId: request.activationId, fn: `${request.fn.namespace}/${request.fn.name}@${request.fn.version}` }, 'function version deleted while its invocation waited; not run');
    await this.report(d, { ...notRun('FUNCTION_VERSION_NOT_FOUND', message), deadLetter: 'FUNCTION_DELETED' });
  }

  /**
   * Claim this attempt of the activation (set-if-absent in the key-value
   * store). A second dispatch of the same attempt — a scheduler that died
   * between dispatching and acking, a redelivery after a lost channel — finds
   * the claim and is skipped, so side effects run once per attempt. A
   * re-dispatch after an executor was lost carries a higher `platformRetries`
   * and so a fresh claim. When the store cannot be reached the run goes ahead
   * (at-least-once beats losing the invocation).
   */
  private async claim(req: InvocationRequest): Promise<boolean> {
    const ttlMs = req.fn.timeoutMs + FULL_WAIT_MS + CLAIM_MARGIN_MS;
    try {
      return await this.o.kv.set(claimKey(req), this.o.id, { ifAbsent: true, ttlMs });
    } catch (err) {
      this.o.logger.warn({ err, activationId: req.activationId }, 'run claim unavailable; running without it');
      return true;
    }
  }

  /**
   * Whether a redelivered dispatch's claim is this executor's own while this
   * process is not running it: an earlier life of this executor (same id,
   * restarted before any scheduler saw it offline) died while running it.
   */
  private async claimedByEarlierLife(req: InvocationRequest): Promise<boolean> {
    if (this.running.has(req.activationId)) return false;
    try {
      return (await this.o.kv.get(claimKey(req))) === this.o.id;
    } catch {
      return false;
    }
  }

  /**
   * A run lost with an earlier life of this executor, as a scheduler's
   * recovery would have treated it: a sync caller gets EXECUTOR_LOST and it
   * is not run again; async work runs again elsewhere, or is a dead letter
   * when its executors were lost too often (`invocations/retry-policy.ts`).
   */
  private async lostHere(d: Dispatch): Promise<void> {
    const { request } = d;
    this.o.logger.warn({ activationId: request.activationId }, 'redelivered after this executor died while running it');
    const message = `executor ${this.o.id} stopped while running this invocation`;
    const lost: RunOutcome = notRun('EXECUTOR_LOST', message);
    if (request.mode === 'sync') return this.report(d, lost);
    const next = this.o.retry.afterExecutorLoss(request, this.o.id);
    if ('retry' in next) {
      await this.o.bus.send(this.o.topology.invokeQueue, next.retry);
      return this.completeSkipped(d, 'platform_error');
    }
    await this.report(d, { ...lost, error: platformError(next.deadLetter, next.message), deadLetter: next.deadLetter });
  }

  /**
   * A gateway's direct dispatch delivered again (this executor's channel or
   * process was lost while it held it): it may have run, so it is not run
   * again. Still running in this process: that run answers; skipped. Else the
   * caller, if it still waits, gets EXECUTOR_LOST, and the record says so
   * unless the earlier run already wrote its final one.
   */
  private async redeliveredDirect(d: Dispatch): Promise<void> {
    const { request } = d;
    if (this.running.has(request.activationId)) return;
    this.o.logger.warn({ activationId: request.activationId }, 'direct sync dispatch delivered again; not run twice');
    await this.report(d, notRun('EXECUTOR_LOST', 'the executor was lost while it held this invocation; it is not run again (sync calls run at most once)'));
  }

  /** A skipped duplicate still frees the reservation and the limit slot its scheduler holds for it. */
  private async completeSkipped(d: Dispatch, status: ActivationStatus): Promise<void> {
    if (d.scheduler === undefined) return; // a direct dispatch: no scheduler holds anything for it
    const completion: Completion = { activationId: d.request.activationId, executorId: this.o.id, status, systemError: false };
    await this.o.bus.send(d.scheduler, completion, { confirm: false }).catch(() => undefined);
  }

  /** Control-topic messages for this executor: pre-warm requests while another executor drains. */
  private async onControl(raw: unknown): Promise<void> {
    const req = parseControl(raw, this.o.logger);
    if (req?.kind === 'provision') return this.provision(req);
    if (req?.kind !== 'prewarm' || req.executorId !== this.o.id || this.draining) return;
    try {
      const fn = await this.versions.resolve(req.fn);
      const { instance } = await this.o.pool.acquire(fn);
      this.o.pool.release(instance, { healthy: true });
      this.o.logger.info({ fn: `${req.fn.namespace}/${req.fn.name}@${req.fn.version}` }, 'pre-warmed');
      await this.sendHeartbeat();
    } catch (err) {
      this.o.logger.warn({ err, fn: req.fn.name }, 'pre-warm failed');
    }
  }

  /**
   * The provisioner's round: keep this executor's share of provisioned
   * instances loaded. Each version is checked against the store first, as a
   * dispatch's is (a message on the bus does not choose what runs here); one
   * that does not resolve is left out and logged.
   */
  private async provision(msg: ProvisionMessage): Promise<void> {
    if (this.draining) return;
    const last = this.provisionRound;
    if (last !== undefined && last.provisioner === msg.provisioner && msg.round <= last.round) return;
    this.provisionRound = { provisioner: msg.provisioner, round: msg.round };
    const shares: ProvisionedShare[] = [];
    for (const share of msg.shares[this.o.id] ?? []) {
      try {
        shares.push({ fn: await this.versions.resolve(share.fn), instances: share.instances });
      } catch (err) {
        this.o.logger.warn({ err, fn: `${share.fn.namespace}/${share.fn.name}@${share.fn.version}` }, 'provisioned version refused');
      }
    }
    // A newer round may have been applied while the versions were read.
    if (this.provisionRound.round !== msg.round || this.provisionRound.provisioner !== msg.provisioner || this.draining) return;
    this.o.pool.provision(shares);
  }

  private async run(d: Dispatch): Promise<RunOutcome> {
    const { request } = d;
    const startedAt = new Date().toISOString();
    const t0 = performance.now();
    let instance: Instance | undefined;
    let acquired: Awaited<ReturnType<WarmPool['acquire']>>;
    // Listed from before the pool takes an instance for it: waking a paused
    // one can take a helper process's time, and a heartbeat composed
    // meanwhile counts that instance busy; without the activation in
    // `running` a gateway would take it for a run still on its way and count
    // the instance out twice (see ExecutorRegistry).
    this.holding.add(request.activationId);
    try {
      acquired = await this.acquire(request);
      instance = acquired.instance;
    } catch (err) {
      this.holding.delete(request.activationId);
      if (err instanceof BuildError) return this.initFailure(err, startedAt, t0);
      // Code that rewrote the runtime's answer while loading: still the function's fault.
      if (err instanceof InstanceFailure && (err.fault.kind === 'garbled' || err.fault.kind === 'oversized')) {
        return { ...this.instanceFault(err), coldStart: true, startedAt, durationMs: round(performance.now() - t0) };
      }
      return this.platformFailure(err, startedAt, t0);
    }
    const start = { coldStart: acquired.startKind !== 'warm', startKind: acquired.startKind, startMs: round(acquired.startMs) };
    // From here until its release the instance is this activation's, as heartbeats say (`running`).
    const held = instance;
    const release = (healthy: boolean): void => {
      this.holding.delete(request.activationId);
      this.o.pool.release(held, { healthy });
    };
    let res: RunAnswer;
    const runStartedAt = Date.now();
    try {
      const remaining = Math.max(1, Math.min(request.fn.timeoutMs, request.deadline - Date.now()));
      // The runtime client checked the answer (protocol, size caps, result JSON) before it resolves.
      res = await instance.run({ activationId: request.activationId, payload: request.payload, deadline: Date.now() + remaining }, remaining);
    } catch (err) {
      release(false);
      if (err instanceof InstanceFailure) return { ...this.instanceFault(err), ...start, startedAt, durationMs: round(performance.now() - t0) };
      return { ...this.platformFailure(err, startedAt, t0), ...start };
    }
    // Asked before the release: a destroyed instance's token, and what the platform API knows of it, is gone.
    const platformFault = !res.ok ? confirmedPlatformFault(instance, res, runStartedAt) : undefined;
    release(true);
    const common = { logs: res.logs, logsTruncated: res.logsTruncated, ...start, startedAt, durationMs: round(performance.now() - t0), systemError: false };
    if (platformFault !== undefined) {
      // The function failed because the platform API failed it: the platform's fault, not billed, retried as such.
      return { ...common, status: 'platform_error', error: platformError(platformFault.code, platformFault.message), systemError: platformFault.systemError };
    }
    return res.ok
      ? { status: 'success', resultJson: res.resultJson, result: res.result, ...common }
      : { status: 'error', error: functionError(res.error.errorType, res.error.errorMessage, res.error.stack), ...common };
  }

  /**
   * An instance from the pool. When every instance is busy (EXECUTOR_FULL) the
   * run waits for one to free up, a little at a time, instead of failing: the
   * scheduler's view is a heartbeat old and several schedulers may have placed
   * work here at once. It gives up after {@link FULL_WAIT_MS} or the deadline.
   */
  private async acquire(request: InvocationRequest): Promise<Awaited<ReturnType<WarmPool['acquire']>>> {
    const giveUpAt = Math.min(request.deadline, Date.now() + FULL_WAIT_MS);
    for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
      try {
        return await this.o.pool.acquire(request.fn, { waitUntil: giveUpAt });
      } catch (err) {
        if (!(err instanceof BriskError && err.code === 'EXECUTOR_FULL') || Date.now() + delay > giveUpAt) throw err;
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  private instanceFault(err: InstanceFailure): Omit<RunOutcome, 'startedAt' | 'durationMs' | 'coldStart'> {
    const base = { logs: [] as string[], logsTruncated: false };
    switch (err.fault.kind) {
      case 'timeout':
        return { ...base, status: 'timeout', error: functionError('TimeoutError', err.message), systemError: false };
      case 'oom':
        return { ...base, status: 'oom', error: functionError('OutOfMemoryError', err.message), systemError: false };
      case 'crash':
        return {
          ...base,
          status: 'error',
          error: functionError('InstanceCrashed', `${err.message} (exit code ${String(err.fault.exitCode)})`),
          systemError: false,
        };
      case 'unreachable':
        return { ...base, status: 'platform_error', error: platformError('INSTANCE_UNREACHABLE', err.message), systemError: true };
      case 'garbled':
        return { ...base, status: 'error', error: functionError('InvalidResultError', err.fault.message), systemError: false };
      case 'oversized':
        return {
          ...base,
          status: 'error',
          error: functionError('ResponseTooLarge', `the instance's answer grew past ${err.fault.limitBytes} bytes; it was cut off and the instance replaced`),
          systemError: false,
        };
    }
  }

  /** The function's code failed to load (threw at import, or lacks its export): the function's fault. */
  private initFailure(err: BuildError, startedAt: string, t0: number): RunOutcome {
    const d = err.data ?? {};
    const stack = typeof d['stack'] === 'string' ? d['stack'] : undefined;
    return {
      status: 'error',
      error: functionError(
        typeof d['errorType'] === 'string' ? d['errorType'] : 'InitError',
        typeof d['errorMessage'] === 'string' ? d['errorMessage'] : err.message,
        stack,
      ),
      logs: [],
      logsTruncated: false,
      coldStart: true,
      ...(err instanceof FunctionLoadError ? { startKind: err.startKind, startMs: round(err.startMs) } : {}),
      startedAt,
      durationMs: round(performance.now() - t0),
      systemError: false,
    };
  }

  private platformFailure(err: unknown, startedAt: string, t0: number): RunOutcome {
    const e = serializeError(err);
    if (!(err instanceof BriskError)) this.o.logger.error({ err }, 'executor fault');
    return {
      status: e.code === 'EXECUTOR_FULL' ? 'throttled' : 'platform_error',
      error: platformError(e.code, e.message),
      logs: [],
      logsTruncated: false,
      coldStart: false,
      startedAt,
      durationMs: round(performance.now() - t0),
      systemError: e.code !== 'EXECUTOR_FULL',
    };
  }

  /** Final record, reply to the waiting gateway, completion to the scheduler — in parallel. */
  private async report(d: Dispatch, o: RunOutcome): Promise<void> {
    const { request } = d;
    const { bus, store } = this.o;
    this.observe(request, o);
    const where = { executor: this.o.id, placement: d.placement };
    const completion: Completion = {
      activationId: request.activationId,
      executorId: this.o.id,
      status: o.status,
      systemError: o.systemError,
    };
    const work: Promise<unknown>[] = [];
    // A direct dispatch has no scheduler to tell: its reply frees the gateway's reservation.
    if (d.scheduler !== undefined) {
      work.push(bus.send(d.scheduler, completion, { confirm: false }).catch((err: unknown) => this.o.logger.warn({ err }, 'completion not sent')));
    }
    const retry = o.deadLetter === undefined ? this.o.retry.retryOf(request, o.status) : undefined;
    if (retry) {
      // Handed back to the invoke queue (confirmed) before our message is acked: nothing is lost.
      // Its backoff is spent in the bus, so no scheduler holds it meanwhile.
      work.push(
        bus.send(this.o.topology.invokeQueue, retry.request, { delayMs: retry.delayMs }),
        this.throughOutage(() => store.putActivation(retryRecord(request, o, where))),
      );
    } else {
      work.push(this.finish(request, finalRecord(request, o, where), o.deadLetter));
    }
    if (request.replyTo !== undefined) {
      const reply: InvocationResult = {
        activationId: request.activationId,
        status: o.status,
        ...(o.resultJson !== undefined ? { resultJson: o.resultJson } : {}),
        ...(o.error !== undefined ? { error: o.error } : {}),
        coldStart: o.coldStart,
        durationMs: o.durationMs,
        executorId: this.o.id,
        systemError: o.systemError,
      };
      work.push(this.reply(request.replyTo, request.deadline, reply));
    }
    await Promise.all(work);
  }

  /**
   * Answer the waiting gateway. Small replies skip the broker's confirm (the
   * hot path); a large one waits for it, so that a broker refusing it (over
   * its max message size) is known here. A reply that cannot be sent is
   * replaced by a small platform error, so the caller fails at once with a
   * clear code instead of waiting for its deadline; the record holds the result.
   */
  private async reply(replyTo: string, deadline: number, reply: InvocationResult): Promise<void> {
    const { bus, logger } = this.o;
    const expirationMs = Math.max(1000, deadline - Date.now());
    try {
      await bus.send(replyTo, reply, { confirm: (reply.resultJson?.length ?? 0) > CONFIRMED_REPLY_CHARS, expirationMs });
    } catch (err) {
      logger.warn({ err, activationId: reply.activationId }, 'reply not delivered; sending the caller an error instead');
      const failure: InvocationResult = {
        activationId: reply.activationId,
        status: 'platform_error',
        error: platformError('REPLY_NOT_DELIVERED', `the run ended (${reply.status}) but its reply could not be delivered: ${err instanceof Error ? err.message : String(err)}; the activation record holds the outcome`),
        coldStart: reply.coldStart,
        durationMs: reply.durationMs,
      };
      await bus.send(replyTo, failure, { confirm: false, expirationMs }).catch((e: unknown) => logger.warn({ err: e, activationId: reply.activationId }, 'error reply not delivered either'));
    }
  }

  /**
   * Retry a record write through a store outage, here, for up to
   * {@link RECORD_OUTAGE_WAIT_MS}. The run is over: handing the whole dispatch
   * back to the bus instead would bring it back to this executor, which finds
   * its own run claim, skips it as a duplicate, and the record stays
   * 'queued' for ever.
   */
  private async throughOutage<T>(write: () => Promise<T>): Promise<T> {
    const giveUpAt = Date.now() + RECORD_OUTAGE_WAIT_MS;
    for (let delay = 100; ; delay = Math.min(delay * 2, 1000)) {
      try {
        return await write();
      } catch (err) {
        if (!isOutage(err) || Date.now() + delay > giveUpAt) throw err;
        this.o.logger.warn({ err }, 'store unavailable; retrying the activation record');
        await sleep(delay);
      }
    }
  }

  /** Write the final record; an async invocation that failed for good is dead-lettered (once). */
  private async finish(request: InvocationRequest, record: Activation, reason = this.o.retry.finalReason(request, record.status)): Promise<void> {
    // Each write retried on its own: a retry of both after the first landed would find the record final and skip the burial.
    const first = await this.throughOutage(() => this.o.store.finishActivation(record));
    if (!first || request.mode !== 'async' || record.status === 'success') return;
    await this.throughOutage(() =>
      this.o.deadLetters.bury(request, {
        reason,
        status: record.status,
        ...(record.error !== undefined ? { lastError: record.error } : {}),
      }),
    );
  }
}

/** How long a run waits for a busy executor's instances to free up before it is throttled. */
export const FULL_WAIT_MS = 5000;
/**
 * Heartbeats a draining executor keeps serving after announcing the drain: one
 * for every scheduler to see it, one for pre-warmed instances elsewhere to be
 * loaded and reported.
 */
export const DRAIN_GRACE_HEARTBEATS = 2;
/**
 * Replies whose result is longer than this are sent with a publisher confirm:
 * the round trip is small beside the transfer, and it turns a refusal by the
 * broker into an error the caller can be told about.
 */
const CONFIRMED_REPLY_CHARS = 64 * 1024;
/** How long a finished run keeps retrying its record through a store outage. */
const RECORD_OUTAGE_WAIT_MS = 60_000;
/** A run claim outlives the run's longest possible duration by this much. */
const CLAIM_MARGIN_MS = 60_000;

/** The run claim of one attempt (and platform retry) of an activation. */
function claimKey(req: InvocationRequest): string {
  return `run:${req.fn.namespace}:${req.activationId}:${req.attempt}.${req.platformRetries ?? 0}`;
}

/**
 * A failed run the runtime blames on the platform API, when the executor's
 * own platform API confirms it failed this instance's calls during the run.
 * The runtime's word alone is the function's word: code that throws a fake
 * "platform unavailable" (or rewrites the answer) must not pass its failure
 * off as the platform's, nor count against this executor's health.
 */
function confirmedPlatformFault(instance: Instance, res: RunResponse, sinceMs: number): PlatformFaultReport | undefined {
  if (res.ok || res.platformFault === undefined) return undefined;
  return instance.platformFaultSince?.(sinceMs);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
