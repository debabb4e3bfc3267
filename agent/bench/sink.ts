// The OTLP/gRPC sink every instrumented variant exports to: decodes and counts, keeps nothing.
import { OtlpReceiver } from '../test/fixtures/otlp-receiver.js';

const receiver = new OtlpReceiver({ keep: false });
await receiver.start(Number(process.env.PORT ?? 0));
process.send?.({ port: receiver.port });
process.on('message', (message) => {
  if (message === 'counts') process.send?.(receiver.countsByService);
});
process.on('disconnect', () => void receiver.stop().then(() => process.exit(0)));
