import { z } from 'zod';
import { ToolInputError, type AgentToolDefinition } from './agent-tool';

const schema = z.object({
  time_zone: z.string().max(64).optional().describe('IANA time zone such as "Asia/Shanghai" or "UTC"; defaults to UTC'),
});

/** The current date and time in a time zone. Reads only the clock. */
export function currentTimeTool(now: () => Date = () => new Date()): AgentToolDefinition<typeof schema> {
  return {
    name: 'current_time',
    description: 'Returns the current date and time (ISO 8601 and human readable) in the given IANA time zone (default UTC).',
    schema,
    maxOutputChars: 500,
    run({ time_zone }) {
      const timeZone = time_zone ?? 'UTC';
      let formatted: string;
      try {
        formatted = new Intl.DateTimeFormat('en-US', { timeZone, dateStyle: 'full', timeStyle: 'long' }).format(now());
      } catch {
        return Promise.reject(new ToolInputError(`unknown time zone "${timeZone}"`));
      }
      return Promise.resolve(JSON.stringify({ time_zone: timeZone, iso: now().toISOString(), local: formatted }));
    },
  };
}
