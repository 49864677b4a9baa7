import type { TestingModuleBuilder } from '@nestjs/testing';
import { ChatModelFactory } from '../../src/modules/agent-chat/llm/chat-model.factory';
import type { SwitchableModelFactory } from '../../src/modules/agent-chat/llm/testing';

/** createTestApp options that replace the app's chat model factory with the test's one. */
export const overrideModel = (factory: SwitchableModelFactory) => ({
  override: (b: TestingModuleBuilder) => b.overrideProvider(ChatModelFactory).useValue(factory),
});

export interface SseEvent {
  readonly event: string;
  readonly id: string;
  readonly data: Record<string, unknown>;
}

/** Parses a complete `text/event-stream` body; comments (heartbeats) are skipped. */
export function parseSse(text: string): SseEvent[] {
  return text
    .split('\n\n')
    .filter((block) => block.trim().length > 0 && !block.startsWith(':'))
    .map((block) => {
      const fields: Record<string, string> = {};
      for (const line of block.split('\n')) {
        const i = line.indexOf(': ');
        if (i > 0) fields[line.slice(0, i)] = line.slice(i + 2);
      }
      return { event: fields.event ?? '', id: fields.id ?? '', data: JSON.parse(fields.data ?? '{}') as Record<string, unknown> };
    });
}
