import type { z } from 'zod';
import type { AuthUser } from '../../../common/auth';

/**
 * Who runs the tool and under which limits. Built by the server for each run: the model can
 * choose arguments, never the identity (CONTRACT.md: tools run with the caller's identity).
 */
export interface ToolContext {
  readonly user: AuthUser;
  readonly runId: string;
  /** Aborted when the client disconnects or the run times out. */
  readonly signal: AbortSignal;
}

/** A read-only tool the agent may call. Defined without LangChain; llm/ adapts it. */
export interface AgentToolDefinition<S extends z.ZodObject = z.ZodObject> {
  readonly name: string;
  readonly description: string;
  readonly schema: S;
  /** Longest text the model gets back; longer results are truncated. */
  readonly maxOutputChars: number;
  run(args: z.infer<S>, context: ToolContext): Promise<string>;
}

/** A failure whose message is safe to show to the model and the client (e.g. "division by zero"). */
export class ToolInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ToolInputError';
  }
}

/** What the model sees (`content`) and, when the tool failed, a short code for the client. */
export interface ToolOutcome {
  readonly content: string;
  readonly error?: 'tool_failed' | 'tool_timeout' | 'invalid_input' | 'tool_call_limit' | 'unknown_tool';
}
