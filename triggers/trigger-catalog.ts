import type { Topology } from '../bus/topology.js';
import type { Bus, Subscription } from '../bus/types.js';
import type { Logger } from '../core/logger.js';
import { parseControl } from '../core/schemas.js';
import type { TriggerStore } from './trigger-store.js';
import type { Trigger } from './types.js';

export type CatalogListener = (triggers: Trigger[]) => void | Promise<void>;

/**
 * Every trigger of every namespace, kept current for the long-running runners
 * (schedules, queue consumers): reloaded from the store when a
 * `triggers-changed` notice arrives on the control topic, and every
 * `refreshMs` in case a notice was lost (topics are fire-and-forget).
 * Listeners get the whole list after each reload and reconcile themselves.
 */
export class TriggerCatalog {
  private readonly listeners: CatalogListener[] = [];
  private subscription: Subscription | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(
    private readonly deps: {
      triggers: TriggerStore;
      bus: Bus;
      topology: Topology;
      logger: Logger;
      /** Safety-net reload interval (5 s: a lost notice delays a change at most this long). */
      refreshMs?: number;
    },
  ) {}

  onChange(listener: CatalogListener): void {
    this.listeners.push(listener);
  }

  /** Subscribe to notices and load once; rejects if the first load fails. */
  async start(): Promise<void> {
    this.subscription = await this.deps.bus.subscribe(this.deps.topology.controlTopic, (body) => {
      if (parseControl(body, this.deps.logger)?.kind === 'triggers-changed') void this.refresh();
    });
    await this.load();
    this.timer = setInterval(() => void this.refresh(), this.deps.refreshMs ?? 5000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.subscription?.cancel();
    this.subscription = undefined;
    await this.running?.catch(() => undefined);
  }

  /** Reload now; concurrent calls coalesce into one extra reload. Never rejects. */
  refresh(): Promise<void> {
    if (this.running !== undefined) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          await this.load();
        } catch (err) {
          this.deps.logger.warn({ err }, 'trigger reload failed; keeping the last known triggers');
        }
      } while (this.again && !this.stopped);
    })().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async load(): Promise<void> {
    if (this.stopped) return;
    const all = await this.deps.triggers.listAll();
    for (const l of this.listeners) {
      try {
        await l(all);
      } catch (err) {
        this.deps.logger.error({ err }, 'trigger runner failed to apply the trigger list');
      }
    }
  }
}
