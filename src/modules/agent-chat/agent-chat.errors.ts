import { defineErrors } from '../../common/errors/domain-error';

/** Error codes of the agent chat module (CONTRACT.md "Agent chat"). */
export const agentChatError = defineErrors({
  session_not_found: { status: 404, detail: { 'zh-CN': '会话不存在。', en: 'The chat session does not exist.' } },
  run_in_progress: {
    status: 409,
    detail: {
      'zh-CN': '该会话正在运行另一条消息,请稍后再试。',
      en: 'Another message is still running in this session. Try again when it has finished.',
    },
  },
  model_unavailable: {
    status: 503,
    detail: { 'zh-CN': '模型暂时不可用,请稍后重试。', en: 'The model is not available right now. Please try again later.' },
  },
  model_error: {
    status: 502,
    detail: { 'zh-CN': '模型返回了错误,请稍后重试。', en: 'The model answered with an error. Please try again.' },
  },
  model_timeout: {
    status: 504,
    detail: { 'zh-CN': '模型响应超时,请稍后重试。', en: 'The model took too long to answer. Please try again.' },
  },
});

export type AgentChatErrorCode = keyof typeof agentChatError.catalogue;
