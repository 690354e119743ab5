import { describe, expect, it } from 'vitest';
import { instancesWanted, MovingAverage, QUEUE_PER_INSTANCE, startsAllowed, type QueueView } from '../../executor/start-policy.js';

const view = (over: Partial<QueueView>): QueueView => ({ queued: 0, busy: 1, runMs: 2, coldStartMs: 200, overdue: 0, ...over });

describe('start policy', () => {
  it('wants an instance for every queued call when nothing of the version is busy or its run time is unknown', () => {
    expect(instancesWanted(view({ queued: 5, busy: 0 }))).toBe(5);
    expect(instancesWanted(view({ queued: 5, runMs: undefined }))).toBe(5);
    expect(instancesWanted(view({ queued: 0, busy: 0 }))).toBe(0);
  });

  it('lets a short burst queue for the busy instance when it frees up sooner than a cold start', () => {
    // 2 ms runs, 200 ms cold start: the warm instance serves ~99 calls before a new one would be ready.
    // Only the part of the queue beyond QUEUE_PER_INSTANCE per instance asks for new ones.
    expect(instancesWanted(view({ queued: 2, busy: 1 }))).toBe(0);
    expect(instancesWanted(view({ queued: 15, busy: 1 }))).toBe(15 - QUEUE_PER_INSTANCE);
    expect(instancesWanted(view({ queued: 16, busy: 8 }))).toBe(0);
  });

  it('wants instances for the calls whose wait would reach a cold start', () => {
    // 100 ms runs, 200 ms cold start: each busy instance serves one queued call before a new one is ready.
    expect(instancesWanted(view({ queued: 10, busy: 4, runMs: 100 }))).toBe(6);
    // Runs longer than a cold start: every queued call is better off with a new instance.
    expect(instancesWanted(view({ queued: 3, busy: 3, runMs: 500 }))).toBe(3);
  });

  it('counts calls that already waited a cold start as wanting an instance', () => {
    expect(instancesWanted(view({ queued: 2, busy: 1, overdue: 2 }))).toBe(2);
    expect(instancesWanted(view({ queued: 2, busy: 1, overdue: 5 }))).toBe(2);
  });

  it('starts no more than wanted less what is coming, within the creation budget', () => {
    expect(startsAllowed(10, 0, 0, 4)).toBe(4);
    expect(startsAllowed(10, 3, 3, 4)).toBe(1);
    expect(startsAllowed(2, 3, 0, 4)).toBe(0);
    expect(startsAllowed(5, 0, 4, 4)).toBe(0);
  });

  it('averages observed times with more weight on recent ones', () => {
    const avg = new MovingAverage();
    expect(avg.get()).toBeUndefined();
    avg.add(100);
    expect(avg.get()).toBe(100);
    avg.add(200);
    expect(avg.get()).toBeCloseTo(120);
    for (let i = 0; i < 30; i++) avg.add(10);
    expect(avg.get()!).toBeLessThan(11);
  });
});
