// One Server-Sent Events response with a bounded send queue: a subscriber that cannot keep up is cut off
// once the queue is full (it resumes with Last-Event-ID), so no buffer grows without bound.
import type { ServerResponse } from 'node:http';
import type { StoredEvent } from '../domain/activity-event.js';
import { publicEvent } from '../http/public-event.js';

// An event's data line, serialised once for every subscriber it goes to (the hub hands each of them the same
// event object), not once per subscriber: at 1,000 subscribers that was 1,000 JSON.stringify calls per event.
// (bench:audit's stream latency did not move measurably with it: the socket writes remain.)
const serialised = new WeakMap<StoredEvent, string>();

function dataOf(event: StoredEvent): string {
  let data = serialised.get(event);
  if (data === undefined) serialised.set(event, (data = JSON.stringify(publicEvent(event))));
  return data;
}

export class SseConnection {
  private queue: string[] = [];
  private waiting = false;
  closed = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly maxQueued: number,
    private readonly onSlow: () => void,
  ) {
    res.once('close', () => (this.closed = true));
    res.on('drain', () => this.drain());
  }

  /** Frames waiting for the client to read what it was already sent. */
  get queued(): number {
    return this.queue.length;
  }

  /** Sends an event; `id` is the stream position after it (position.ts), the client's Last-Event-ID. */
  send(event: StoredEvent, id: string): void {
    this.write(`id: ${id}\nevent: activity\ndata: ${dataOf(event)}\n\n`);
  }

  comment(text: string): void {
    // Only when idle: a heartbeat queued behind events says nothing.
    if (!this.waiting) this.write(`: ${text}\n\n`);
  }

  private write(frame: string): void {
    if (this.closed) return;
    if (this.waiting) {
      if (this.queue.length >= this.maxQueued) {
        this.closed = true;
        this.onSlow();
        this.res.destroy();
        return;
      }
      this.queue.push(frame);
      return;
    }
    if (!this.res.write(frame)) this.waiting = true;
  }

  private drain(): void {
    this.waiting = false;
    while (this.queue.length > 0 && !this.waiting) {
      if (!this.res.write(this.queue.shift()!)) this.waiting = true;
    }
  }
}
