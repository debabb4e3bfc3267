// A bound on concurrent work (the store's ingest transactions): at most `limit` at once, the rest in arrival order.
/** At most `limit` of the given work at once; the rest wait in arrival order. */
export class Gate {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly limit: number) {}

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      // The slot passes straight to the next in line, so no newcomer overtakes it.
      if (next) next();
      else this.active--;
    }
  }
}
