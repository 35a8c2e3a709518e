/** What a handler is told about the entry it handles (its own module: the consumer and the dead-letter replay both hand it over). */
export interface EntryContext {
  stream: string;
  /** The stream entry id. */
  id: string;
  /**
   * How many times this entry has been delivered to the group (1 on first delivery); deliveries
   * that ended in an outage, or in a marker waiting for earlier entries, are not counted.
   */
  deliveries: number;
  /**
   * For a `sync.completed` marker: how many entries of its run sit in the dead-letter stream.
   * Every earlier entry of the stream has been handled or dead-lettered when the marker is
   * handled, so a run with none is complete; with some, it is not until they are replayed.
   */
  deadLettered?: number;
  /** True when `replayDeadLetters` hands the entry over, not the stream. */
  replay?: boolean;
}
