import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  InMemorySpanExporter,
  ReadableSpan,
  SimpleSpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';

/** The spans a test recorded, and the way to look at them. */
export interface TestTracing {
  exporter: InMemorySpanExporter;
  provider: TracerProvider;
  /** Finished spans, oldest first; with `name`, only those. */
  spans(name?: string): ReadableSpan[];
  /** Waits until `predicate` holds over the finished spans (5 s at most by default). */
  waitFor(
    predicate: (spans: ReadableSpan[]) => boolean,
    timeoutMs?: number,
  ): Promise<ReadableSpan[]>;
  reset(): void;
  /** Unregisters the provider, context manager and propagator. */
  uninstall(): Promise<void>;
}

/**
 * Registers an OpenTelemetry SDK for a test, as a backend's SDK setup
 * would: a tracer provider exporting to memory, AsyncLocalStorage for the
 * active context, W3C trace context for propagation.
 */
export function installTestTracing(): TestTracing {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
  });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  const spans = (name?: string) =>
    exporter
      .getFinishedSpans()
      .filter(s => name === undefined || s.name === name);
  return {
    exporter,
    provider,
    spans,
    async waitFor(predicate, timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const all = spans();
        if (predicate(all)) return all;
        if (Date.now() > deadline) {
          throw new Error(
            `spans never matched; finished: ${all.map(s => s.name).join(', ')}`,
          );
        }
        await new Promise(r => setTimeout(r, 20));
      }
    },
    reset: () => exporter.reset(),
    async uninstall() {
      await provider.shutdown();
      trace.disable();
      propagation.disable();
      context.disable();
    },
  };
}

/** The parent span id of a finished span, if it has a parent. */
export function parentOf(span: ReadableSpan): string | undefined {
  return span.parentSpanContext?.spanId;
}
