import { loadConfig } from '../../../common/config';
import { ChatModelFactory } from './chat-model.factory';
import { OfflineChatModel } from './offline-chat-model';

describe('ChatModelFactory', () => {
  it('makes the configured model once and hands the same one to every run (so its compiled agent is reused)', async () => {
    const factory = new ChatModelFactory(loadConfig({ LLM_PROVIDER: 'offline' }));
    const [a, b] = await Promise.all([factory.create(), factory.create()]);
    expect(a).toBeInstanceOf(OfflineChatModel);
    expect(b).toBe(a);
    expect(await factory.create()).toBe(a);
  });

  it('makes a streaming OpenAI client for live (SSE) runs and one asking for whole messages for JSON answers', async () => {
    const factory = new ChatModelFactory(loadConfig({ LLM_PROVIDER: 'openai', LLM_MODEL: 'm', LLM_BASE_URL: 'http://127.0.0.1:9/v1' }));
    const live = (await factory.create(true)) as unknown as { streaming: boolean };
    const whole = (await factory.create(false)) as unknown as { streaming: boolean };
    expect([live.streaming, whole.streaming]).toEqual([true, false]);
    expect(await factory.create(false)).toBe(whole);
  });
});
