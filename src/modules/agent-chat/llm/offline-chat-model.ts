import { randomUUID } from 'node:crypto';
import type { CallbackManagerForLLMRun } from '@langchain/core/callbacks/manager';
import { BaseChatModel, type BaseChatModelCallOptions, type BindToolsInput } from '@langchain/core/language_models/chat_models';
import { AIMessage, AIMessageChunk, type BaseMessage, type ToolMessage } from '@langchain/core/messages';
import { ChatGenerationChunk, type ChatResult } from '@langchain/core/outputs';
import { offlineReply, type OfflineTurn } from './offline-rules';

/**
 * `LLM_PROVIDER=offline`: a deterministic, rule-based chat model (see offline-rules.ts) that
 * behaves like a real tool-calling model towards `createAgent`: it binds tools, streams text in
 * word-sized chunks and emits tool calls, so development and demos need no model server.
 */
export class OfflineChatModel extends BaseChatModel {
  constructor(private readonly toolNames: readonly string[] = []) {
    super({});
  }

  static override lc_name(): string {
    return 'OfflineChatModel';
  }

  _llmType(): string {
    return 'offline';
  }

  override bindTools(tools: BindToolsInput[]): OfflineChatModel {
    return new OfflineChatModel(tools.map(toolName).filter((n): n is string => n !== undefined));
  }

  async _generate(messages: BaseMessage[], options: this['ParsedCallOptions']): Promise<ChatResult> {
    options.signal?.throwIfAborted();
    const reply = offlineReply(toTurns(messages), this.toolNames);
    const toolCalls = reply.toolCalls.map((c) => ({ id: `call_${randomUUID()}`, name: c.name, args: c.args, type: 'tool_call' as const }));
    const message = new AIMessage({ content: reply.text, tool_calls: toolCalls });
    return Promise.resolve({ generations: [{ text: reply.text, message }] });
  }

  override async *_streamResponseChunks(
    messages: BaseMessage[],
    options: this['ParsedCallOptions'],
    runManager?: CallbackManagerForLLMRun,
  ): AsyncGenerator<ChatGenerationChunk> {
    const reply = offlineReply(toTurns(messages), this.toolNames);
    for (const piece of reply.text.match(/\S+\s*|\s+/g) ?? []) {
      options.signal?.throwIfAborted();
      const chunk = new ChatGenerationChunk({ text: piece, message: new AIMessageChunk({ content: piece }) });
      yield chunk;
      await runManager?.handleLLMNewToken(piece, undefined, undefined, undefined, undefined, { chunk });
    }
    if (reply.toolCalls.length > 0) {
      const message = new AIMessageChunk({
        content: '',
        tool_call_chunks: reply.toolCalls.map((c, index) => ({
          id: `call_${randomUUID()}`,
          name: c.name,
          args: JSON.stringify(c.args),
          index,
          type: 'tool_call_chunk' as const,
        })),
      });
      yield new ChatGenerationChunk({ text: '', message });
    }
  }
}

export type OfflineCallOptions = BaseChatModelCallOptions;

function toolName(tool: BindToolsInput): string | undefined {
  const t = tool as { name?: unknown; function?: { name?: unknown } };
  if (typeof t.name === 'string') return t.name;
  if (typeof t.function?.name === 'string') return t.function.name;
  return undefined;
}

function toTurns(messages: BaseMessage[]): OfflineTurn[] {
  return messages.map((m) => {
    const type = m.getType();
    const content = typeof m.content === 'string' ? m.content : m.text;
    if (type === 'tool') {
      const tool = m as ToolMessage;
      return { role: 'tool', content, toolName: tool.name, failed: tool.status === 'error' };
    }
    return { role: type === 'human' ? 'user' : type === 'ai' ? 'assistant' : 'system', content };
  });
}
