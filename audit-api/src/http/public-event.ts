// The form in which the API returns an event: without the internal insertion sequence.
import type { ActivityEvent, StoredEvent } from '../domain/activity-event.js';

export function publicEvent(event: StoredEvent): ActivityEvent {
  const { seq: _seq, ...rest } = event;
  return rest;
}
