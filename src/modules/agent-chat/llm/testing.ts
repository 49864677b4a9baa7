import type { CallbackManagerForLLMRun } from '@langchain/core/callbacks/manager';
import { BaseChatModel } from '@langchain/core/language_models/chat_models';
import { AIMessage, AIMessageChunk, type BaseMessage } from '@langchain/core/messages';
import { ChatGenerationChunk, type ChatResult } from '@langchain/core/outputs';

/*
 * Test support, kept here so LangChain stays behind the llm/ wall (lint: no-restricted-imports):
 * e2e tests get LangChain's deterministic fake models and a few doubles of ours from this file.
 */
export { AIMessage } from '@langchain/core/messages';
export { fakeModel } from '@langchain/core/testing';
export { FakeListChatModel } from '@langchain/core/utils/testing';
export type { BaseChatModel } from '@langchain/core/language_models/chat_models';

/** Stands in for ChatModelFactory in tests: each test sets the model the next runs use. */
export class SwitchableModelFactory {
  model: BaseChatModel | undefined;
  describe(): { provider: string; model: string } {
    return { provider: 'fake', model: 'fake-test-model' };
  }
  create(): BaseChatModel {
    if (!this.model) throw new Error('test did not set a model');
    return this.model;
  }
}

/**
 * Streams `first` as one text chunk, then waits: until `release()` (then streams `rest`) or
 * until its call is aborted. Counts calls and aborts, so tests can see a run's model call being
 * cancelled and no further call made.
 */
export class GatedModel extends BaseChatModel {
  calls = 0;
  aborted = 0;
  private releaseGate: (() => void) | undefined;
  private readonly gate: Promise<void>;

  constructor(
    private readonly first: string,
    private readonly rest: string,
  ) {
    super({});
    this.gate = new Promise((resolve) => (this.releaseGate = resolve));
  }

  release(): void {
    this.releaseGate?.();
  }

  _llmType(): string {
    return 'gated';
  }

  override bindTools(): this {
    return this;
  }

  /** Without token streaming (JSON answers): the same chunks, gate included, as one message. */
  async _generate(messages: BaseMessage[], options: this['ParsedCallOptions'], runManager?: CallbackManagerForLLMRun): Promise<ChatResult> {
    let text = '';
    for await (const chunk of this._streamResponseChunks(messages, options, runManager)) text += chunk.text;
    return { generations: [{ text, message: new AIMessage({ content: text }) }] };
  }

  override async *_streamResponseChunks(
    _messages: BaseMessage[],
    options: this['ParsedCallOptions'],
    runManager?: CallbackManagerForLLMRun,
  ): AsyncGenerator<ChatGenerationChunk> {
    this.calls++;
    for (const text of [this.first, 'WAIT', this.rest]) {
      if (text === 'WAIT') {
        await new Promise<void>((resolve, reject) => {
          const onAbort = (): void => {
            this.aborted++;
            reject(new Error('aborted'));
          };
          if (options.signal?.aborted) return onAbort();
          options.signal?.addEventListener('abort', onAbort, { once: true });
          void this.gate.then(resolve);
        });
        continue;
      }
      const chunk = new ChatGenerationChunk({ text, message: new AIMessageChunk({ content: text }) });
      yield chunk;
      await runManager?.handleLLMNewToken(text, undefined, undefined, undefined, undefined, { chunk });
    }
  }
}

/** Never answers; its call settles only when aborted. */
export class SilentModel extends GatedModel {
  constructor() {
    super('', '');
  }
}

/** One step of a {@link ScriptedStreamModel} call: a text chunk, a pause that ignores aborts, or a failure. */
export type ScriptStep = string | { readonly waitMs: number } | Error;

/**
 * Streams one script per call (the last script repeats): each string as a text chunk, a pause
 * that does not listen to the call's signal (as a provider stream that goes on after a timeout),
 * an Error thrown mid-stream. Keeps each call's signal, so tests can see a call being aborted.
 */
export class ScriptedStreamModel extends BaseChatModel {
  readonly signals: (AbortSignal | undefined)[] = [];

  constructor(private readonly scripts: readonly (readonly ScriptStep[])[]) {
    super({});
  }

  _llmType(): string {
    return 'scripted';
  }

  override bindTools(): this {
    return this;
  }

  async _generate(messages: BaseMessage[], options: this['ParsedCallOptions'], runManager?: CallbackManagerForLLMRun): Promise<ChatResult> {
    let text = '';
    for await (const chunk of this._streamResponseChunks(messages, options, runManager)) text += chunk.text;
    return { generations: [{ text, message: new AIMessage({ content: text }) }] };
  }

  override async *_streamResponseChunks(
    _messages: BaseMessage[],
    options: this['ParsedCallOptions'],
    runManager?: CallbackManagerForLLMRun,
  ): AsyncGenerator<ChatGenerationChunk> {
    const script = this.scripts[Math.min(this.signals.length, this.scripts.length - 1)] ?? [];
    this.signals.push(options.signal);
    for (const step of script) {
      if (step instanceof Error) throw step;
      if (typeof step !== 'string') {
        await new Promise((resolve) => setTimeout(resolve, step.waitMs));
        continue;
      }
      const chunk = new ChatGenerationChunk({ text: step, message: new AIMessageChunk({ content: step }) });
      yield chunk;
      await runManager?.handleLLMNewToken(step, undefined, undefined, undefined, undefined, { chunk });
    }
  }
}
