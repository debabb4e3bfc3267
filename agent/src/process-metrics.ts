// Process CPU and memory, named by the OpenTelemetry process semantic conventions. The runtime
// instrumentation covers the event loop, heap and GC; these few gauges need no dependency.
import type { Meter } from '@opentelemetry/api';

export function registerProcessMetrics(meter: Meter): void {
  const cpuTime = meter.createObservableCounter('process.cpu.time', {
    unit: 's',
    description: 'Total CPU seconds consumed by the process, by mode',
  });
  const memory = meter.createObservableUpDownCounter('process.memory.usage', {
    unit: 'By',
    description: 'Resident set size of the process',
  });
  const uptime = meter.createObservableGauge('process.uptime', { unit: 's', description: 'Seconds since the process started' });

  meter.addBatchObservableCallback(
    (result) => {
      const cpu = process.cpuUsage();
      result.observe(cpuTime, cpu.user / 1e6, { 'cpu.mode': 'user' });
      result.observe(cpuTime, cpu.system / 1e6, { 'cpu.mode': 'system' });
      result.observe(memory, process.memoryUsage.rss());
      result.observe(uptime, process.uptime());
    },
    [cpuTime, memory, uptime],
  );
}
