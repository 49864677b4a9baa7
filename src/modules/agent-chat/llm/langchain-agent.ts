import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { BaseChatModel } from '@langchain/core/language_models/chat_models';
import { AIMessage, AIMessageChunk, HumanMessage, ToolMessage, type BaseMessage } from '@langchain/core/messages';
import { Runnable } from '@langchain/core/runnables';
import { AsyncLocalStorageProviderSingleton } from '@langchain/core/singletons';
import { tool, type StructuredToolInterface } from '@langchain/core/tools';
import { createAgent, createMiddleware } from 'langchain';
import {
  boundModelText,
  MAX_TOOL_CALL_ID_LENGTH,
  MAX_TOOL_NAME_LENGTH,
  type AgentStreamPart,
  type CompletedToolCall,
  type TokenUsage,
} from '../events/ag-ui-events';
import type { HistoryMessage } from '../history/history-message';
import type { AgentToolDefinition } from '../tools/agent-tool';
import type { AgentRunInput } from './agent-runner';
import { classifyModelError, ModelFailure } from './model-failure';

/** Agent runs of this process between their start and their end (or abandonment): see switchOffLangChainContext. */
let runsInFlight = 0;

/**
 * One `createAgent` tool-calling loop over `model`, reported as plain {@link AgentStreamPart}s. The
 * only place that drives LangChain; everything about events, persistence and HTTP lives outside
 * llm/. Loaded on a process's first run (AgentRunner).
 */
export async function* runAgent(model: BaseChatModel, input: AgentRunInput): AsyncGenerator<AgentStreamPart> {
  const agent = agentFor(model, input.tools, input.systemPrompt);
  const scope: RunScope = { input, modelCalls: 0, attempts: new Map(), callIds: { used: new Set(), byAttempt: new Map() } };
  // Each model call attempt streams under a message id of its own (runLimits), which its chunks
  // carry in their metadata and its final message as its id: so the mapper can pair them whatever
  // ids (or none) the provider uses, and a retry never continues the failed attempt's message.
  let streaming: string | undefined; // the message whose chunks are coming
  let newestAttempt = 0;
  const ended = new Set<string>(); // messages completed or abandoned: late chunks of theirs are dropped
  runsInFlight++;
  try {
    const stream = await agent.stream(
      { messages: input.history.map(toLangChainMessage) },
      {
        streamMode: input.streamTokens === false ? ['updates'] : ['messages', 'updates'],
        signal: input.signal,
        context: scope,
        recursionLimit: 4 * input.maxModelCalls + 8,
      },
    );
    for await (const [mode, payload] of stream as AsyncIterable<[string, unknown]>) {
      if (mode === 'messages') {
        const [message, metadata] = payload as [BaseMessage, Record<string, unknown> | undefined];
        if (!AIMessageChunk.isInstance(message)) continue; // complete messages come with 'updates'
        const id = metadata?.[ATTEMPT_MESSAGE_ID];
        const attempt = typeof id === 'string' ? scope.attempts.get(id) : undefined;
        // Not from an attempt, or from one a newer attempt replaced (a stopped stream's last
        // chunks can still be on their way): dropped.
        if (typeof id !== 'string' || attempt === undefined || attempt < newestAttempt || ended.has(id)) continue;
        if (streaming !== undefined && streaming !== id) {
          ended.add(streaming);
          yield { kind: 'message_abandoned', message_id: streaming };
        }
        streaming = id;
        newestAttempt = attempt;
        const text = message.text;
        if (text.length > 0) yield { kind: 'text_delta', message_id: id, delta: text };
        for (const chunk of (message.tool_call_chunks ?? []) as ToolCallChunkLike[]) {
          yield {
            kind: 'tool_call_delta',
            message_id: id,
            index: chunk.index ?? 0,
            ...(chunk.id ? { tool_call_id: runCallId(scope, id, chunk.id) } : {}),
            ...(chunk.name ? { tool_name: boundedName(chunk.name) } : {}),
            args_delta: chunk.args ?? '',
          };
        }
      } else if (mode === 'updates') {
        for (const message of updatedMessages(payload)) {
          if (AIMessage.isInstance(message)) {
            // Stamped by runLimits with its attempt's message id (any other id is the provider's).
            const id = message.id !== undefined && scope.attempts.has(message.id) ? message.id : randomUUID();
            // The call's successful attempt: whatever an earlier one had streamed ends unfinished.
            if (streaming !== undefined && streaming !== id) {
              ended.add(streaming);
              yield { kind: 'message_abandoned', message_id: streaming };
            }
            streaming = undefined;
            ended.add(id);
            newestAttempt = Math.max(newestAttempt, scope.attempts.get(id) ?? 0);
            yield { kind: 'model_message', message_id: id, text: message.text, tool_calls: toolCallsOf(message), ...usageOf(message) };
          } else if (ToolMessage.isInstance(message)) {
            yield toolResult(message);
          }
        }
      }
    }
  } catch (error) {
    if (input.signal.aborted) throw input.signal.reason ?? error;
    if ((error as { name?: string } | null)?.name === 'GraphRecursionError')
      throw new ModelFailure('limit_exceeded', 'agent loop limit reached', { cause: error });
    throw classifyModelError(error);
  } finally {
    if (--runsInFlight === 0) switchOffLangChainContext();
  }
}

/**
 * LangChain keeps its run context in one process-wide AsyncLocalStorage, which it switches on at a
 * process's first run and never off. On Node 20 an enabled AsyncLocalStorage installs promise
 * hooks for the whole process: every promise of every request (≈ 92 per `/users/me`) then pays
 * for bookkeeping, whether or not an agent run is in flight. In paired bench runs `/users/me`
 * served 21 % less after the agent scenario with it left on, 6 % less with it switched off
 * (bench/results.md, "Session 13"). So it is switched off (Node's documented `disable()`) whenever
 * the last run in flight ends; LangChain's next `run()` on it switches it on again, exactly as at
 * the first run. Nothing of ours reads it between runs. A LangChain callback still pending from a
 * run that was aborted reads no context (`getStore()` returns undefined, which LangChain treats
 * as "no parent run"); if it opens a context of its own, that switches tracking back on until the
 * next time the count reaches zero. Node 24's AsyncContextFrame makes this moot.
 */
function switchOffLangChainContext(): void {
  const storage: unknown = AsyncLocalStorageProviderSingleton.getInstance();
  // Without a global AsyncLocalStorage LangChain uses a stand-in, with nothing to switch off.
  if (storage instanceof AsyncLocalStorage) storage.disable();
}

interface ToolCallChunkLike {
  id?: string;
  name?: string;
  args?: string;
  index?: number;
}

/**
 * What a run passes to its compiled agent through LangChain's runtime context: the caller-bound
 * tool executor and the run's limits, plus the run's model-call count.
 */
interface RunScope {
  readonly input: AgentRunInput;
  modelCalls: number;
  /** The message id of each model call attempt of the run, with its place among them (1, 2, …). */
  readonly attempts: Map<string, number>;
  /** Tool call ids handed out in this run: see {@link runCallId}. */
  readonly callIds: { readonly used: Set<string>; readonly byAttempt: Map<string, string> };
}

/**
 * The id a tool call goes by in this run: the provider's, or, when an earlier model call of the
 * run already used it, a new one. Some providers number calls afresh in every response (`call_0`
 * each time), and events, results and stored messages pair a call with its result by id. Asked
 * for the same (attempt, provider id) by the streamed chunks and then by the final message, it
 * answers the same; the final message (hence LangChain's tool messages and the next request's
 * history) carries it too.
 */
function runCallId(scope: RunScope, attemptId: string, providerId: string): string {
  const key = `${attemptId}\u0000${providerId}`;
  const known = scope.callIds.byAttempt.get(key);
  if (known !== undefined) return known;
  let id = boundedCallId(providerId);
  for (let n = 2; scope.callIds.used.has(id); n++) id = boundedCallId(`${providerId.slice(0, MAX_TOOL_CALL_ID_LENGTH - 12)}~${n}`);
  scope.callIds.used.add(id);
  scope.callIds.byAttempt.set(key, id);
  return id;
}

/** The metadata key under which a model call attempt's streamed chunks carry its message id. */
const ATTEMPT_MESSAGE_ID = 'agent_chat_message_id';

type CompiledAgent = ReturnType<typeof compileAgent>;

/**
 * Compiled agents, one per (model, tool list, system prompt). `createAgent` builds and compiles a
 * LangGraph graph, about a tenth of an offline run's CPU (bench/results.md, "Session 7"); the graph
 * holds nothing of a run (no checkpointer), so one serves every run, and what belongs to a run
 * (the caller's tool executor, signal and limits) travels in its runtime context. Weak keys: a
 * model made for a single run (as tests do) takes its agent with it.
 */
const agents = new WeakMap<BaseChatModel, WeakMap<readonly AgentToolDefinition[], Map<string, CompiledAgent>>>();

export function agentFor(model: BaseChatModel, tools: readonly AgentToolDefinition[], systemPrompt: string): CompiledAgent {
  let byTools = agents.get(model);
  if (!byTools) agents.set(model, (byTools = new WeakMap()));
  let byPrompt = byTools.get(tools);
  if (!byPrompt) byTools.set(tools, (byPrompt = new Map<string, CompiledAgent>()));
  let agent = byPrompt.get(systemPrompt);
  if (!agent) byPrompt.set(systemPrompt, (agent = compileAgent(model, tools, systemPrompt)));
  return agent;
}

function compileAgent(model: BaseChatModel, tools: readonly AgentToolDefinition[], systemPrompt: string) {
  return createAgent({ model, tools: tools.map(toLangChainTool), systemPrompt, middleware: [runLimits, runTools] });
}

function scopeOf(runtime: { context?: unknown } | undefined): RunScope {
  const scope = runtime?.context as RunScope | undefined;
  // Only runAgent invokes these agents, always with a scope; without one a tool would run unbound.
  if (scope?.input === undefined) throw new Error('agent invoked without its run scope');
  return scope;
}

/**
 * Model-call budget, per-call timeout and the single retry, around every model call. Each attempt
 * gets a signal of its own (the run's, plus one aborted when the attempt times out or fails): a
 * timed-out call is really stopped, not merely no longer awaited (the openai client's own timer
 * stops at the response headers, so a slow stream would go on). And each attempt streams under a
 * message id of its own, so a retry's text never joins the failed attempt's (runAgent).
 */
const runLimits = createMiddleware({
  name: 'RunLimits',
  wrapModelCall: async (request, handler) => {
    const scope = scopeOf(request.runtime);
    const { input } = scope;
    scope.modelCalls++;
    if (scope.modelCalls > input.maxModelCalls) throw new ModelFailure('limit_exceeded', `more than ${input.maxModelCalls} model calls`);
    // The last allowed call gets no tools, so a well-behaved model has to answer in text.
    const effective = scope.modelCalls === input.maxModelCalls ? { ...request, tools: [] } : request;
    const { model } = effective;
    // Always our BaseChatModel (agentFor); the type LangChain declares is a bare interface.
    if (!Runnable.isRunnable(model)) throw new Error('agent model is not a LangChain Runnable');
    for (let attempt = 0; ; attempt++) {
      const messageId = randomUUID();
      scope.attempts.set(messageId, scope.attempts.size + 1);
      const stop = new AbortController();
      // The model is called with this signal merged with the node's (RunnableBinding merges
      // signals), and its chunks carry this metadata through LangGraph's 'messages' stream.
      const bound = model.withConfig({
        signal: AbortSignal.any([input.signal, stop.signal]),
        metadata: { [ATTEMPT_MESSAGE_ID]: messageId },
      });
      try {
        const response = await withTimeout(Promise.resolve(handler({ ...effective, model: bound })), input.modelTimeoutMs);
        if (AIMessage.isInstance(response)) {
          // As LangGraph's own stream handler sets ids: both the field and its serialized copy.
          response.id = messageId;
          response.lc_kwargs.id = messageId;
          for (const call of response.tool_calls ?? []) call.id = runCallId(scope, messageId, call.id ?? randomUUID());
        }
        return response;
      } catch (error) {
        stop.abort(error);
        if (input.signal.aborted) throw error;
        const failure = classifyModelError(error);
        const clientError = typeof (error as { status?: unknown }).status === 'number' && (error as { status: number }).status < 500;
        if (attempt >= input.modelRetries || failure.code === 'limit_exceeded' || clientError) throw failure;
      }
    }
  },
});

/**
 * Every tool call of the run goes through the run's executor (budget, argument check, timeout,
 * output cap, audit line), a call of a tool the run does not offer included: LangChain's handler,
 * which would answer those two itself (unknown name, arguments its schema refuses) past the budget
 * and the audit, is not called.
 */
const runTools = createMiddleware({
  name: 'RunTools',
  wrapToolCall: async (request) => {
    const { input } = scopeOf(request.runtime);
    const { toolCall } = request;
    const def = input.tools.find((t) => t.name === toolCall.name);
    const outcome = def
      ? await input.executor.execute(def, toolCall.args)
      : await input.executor.executeUnknown(
          boundModelText(toolCall.name, MAX_TOOL_NAME_LENGTH),
          input.tools.map((t) => t.name),
        );
    return new ToolMessage({
      content: outcome.content,
      tool_call_id: toolCall.id ?? '',
      name: def?.name ?? toolCall.name,
      status: outcome.error ? 'error' : 'success',
      artifact: outcome.error ? { error: outcome.error } : undefined,
    });
  },
});

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ModelFailure('model_timeout', `model call exceeded ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Our tool definition as a LangChain tool: what the model is offered (name, description, schema).
 * Its calls are run by {@link runTools}, never by LangChain, so its own function is never called.
 */
function toLangChainTool(def: AgentToolDefinition): StructuredToolInterface {
  return tool(
    () => {
      throw new Error(`tool ${def.name} is run by the RunTools middleware`);
    },
    { name: def.name, description: def.description, schema: def.schema },
  ) as StructuredToolInterface;
}

function toLangChainMessage(message: HistoryMessage): BaseMessage {
  switch (message.role) {
    case 'user':
      return new HumanMessage(message.content);
    case 'assistant':
      return new AIMessage({
        content: message.content,
        tool_calls: (message.toolCalls ?? []).map((c) => ({ id: c.id, name: c.name, args: c.args, type: 'tool_call' as const })),
      });
    case 'tool':
      return new ToolMessage({ content: message.content, tool_call_id: message.toolCallId ?? '', name: message.toolName ?? undefined });
  }
}

function updatedMessages(payload: unknown): BaseMessage[] {
  const out: BaseMessage[] = [];
  for (const update of Object.values((payload ?? {}) as Record<string, unknown>)) {
    for (const item of Array.isArray(update) ? update : [update]) {
      const messages = (item as { messages?: unknown } | null)?.messages;
      if (Array.isArray(messages)) out.push(...(messages as BaseMessage[]));
    }
  }
  return out;
}

function toolCallsOf(message: AIMessage): CompletedToolCall[] {
  return (message.tool_calls ?? []).map((c) => ({ id: boundedCallId(c.id ?? randomUUID()), name: boundedName(c.name), args: c.args }));
}

/** Names and ids come from the model: bounded wherever they leave this file (events, storage). */
function boundedName(name: string): string {
  return boundModelText(name, MAX_TOOL_NAME_LENGTH);
}

function boundedCallId(id: string): string {
  return boundModelText(id, MAX_TOOL_CALL_ID_LENGTH);
}

function usageOf(message: AIMessage): { usage?: TokenUsage } {
  const u = message.usage_metadata;
  return u ? { usage: { input_tokens: u.input_tokens, output_tokens: u.output_tokens, total_tokens: u.total_tokens } } : {};
}

function toolResult(message: ToolMessage): AgentStreamPart {
  const name = boundedName(message.name ?? 'tool');
  const toolCallId = boundedCallId(message.tool_call_id);
  const ours = (message.artifact as { error?: string } | undefined)?.error;
  const content = typeof message.content === 'string' ? message.content : message.text;
  if (message.status === 'error' && ours === undefined) {
    // An error LangChain produced itself (none expected: RunTools answers every call): keep its text away from clients.
    return {
      kind: 'tool_result',
      tool_call_id: toolCallId,
      tool_name: name,
      result: `Tool ${name} failed.`,
      error: 'tool_failed',
    };
  }
  return { kind: 'tool_result', tool_call_id: toolCallId, tool_name: name, result: content, ...(ours ? { error: ours } : {}) };
}
