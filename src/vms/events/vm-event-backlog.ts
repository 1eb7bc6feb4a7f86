import { VmEvent } from './vm-event';

/** What a client that last saw event `lastId` gets from the backlog. */
export type Replay = { kind: 'missed'; events: VmEvent[] } | { kind: 'reset'; latestId: number };

/**
 * The last `capacity` events, in a ring: pushing past the capacity overwrites the oldest, so
 * the backlog never holds more than `capacity` references. Events are numbered outside; the
 * backlog only needs them pushed in increasing id order, without gaps.
 */
export class VmEventBacklog {
  private readonly ring: Array<VmEvent | undefined>;
  /** Index where the next event goes. */
  private head = 0;
  private size = 0;

  /** `nextId`: the id the first event pushed will have (so an empty backlog can answer resumes). */
  constructor(
    readonly capacity: number,
    private nextId: number,
  ) {
    this.ring = new Array<VmEvent | undefined>(capacity);
  }

  push(event: VmEvent): void {
    this.ring[this.head] = event;
    this.head = (this.head + 1) % this.capacity;
    this.size = Math.min(this.size + 1, this.capacity);
    this.nextId = event.id + 1;
  }

  /** The id of the last event pushed (one less than the first id, before any). */
  get latestId(): number {
    return this.nextId - 1;
  }

  /**
   * The events after `lastId`, if the backlog still holds every one of them; else (the id is
   * older than the backlog, or is not one this process gave out: a restart, a made-up id) a reset.
   */
  since(lastId: number): Replay {
    const oldestId = this.nextId - this.size;
    if (lastId < oldestId - 1 || lastId > this.latestId) return { kind: 'reset', latestId: this.latestId };
    const count = this.latestId - lastId;
    const events: VmEvent[] = [];
    for (let i = count; i > 0; i--) events.push(this.ring[(this.head - i + this.capacity) % this.capacity]!);
    return { kind: 'missed', events };
  }
}
