/**
 * The offline model's behaviour, as a pure function of the conversation: answer from rules,
 * call a tool when the user asks for the time, arithmetic or their profile, and summarize tool
 * results. Deterministic, so demos and tests behave the same every time.
 */
export interface OfflineTurn {
  readonly role: 'user' | 'assistant' | 'tool' | 'system';
  readonly content: string;
  readonly toolName?: string;
  readonly failed?: boolean;
}

export interface OfflineReply {
  readonly text: string;
  readonly toolCalls: readonly { readonly name: string; readonly args: Record<string, unknown> }[];
}

const CJK = /[\u4e00-\u9fff]/;
const TIME = /\b(time|date|clock|today)\b|几点|时间|日期|今天/i;
const PROFILE = /\bwho am i\b|\bmy (profile|account|username)\b|\babout me\b|我是谁|我的(资料|账号|用户名)|个人资料/i;
const TIME_ZONE = /\b(UTC|[A-Z][a-z]+\/[A-Za-z_]+(?:\/[A-Za-z_]+)?)\b/;

/** The longest run of arithmetic characters that holds an operator between two operands. */
export function findArithmetic(text: string): string | undefined {
  const candidates = text.match(/[-+*/%^().\d\s]+/g) ?? [];
  let best: string | undefined;
  for (const raw of candidates) {
    const candidate = raw.trim();
    if (!/\d\s*[-+*/%^]\s*[-+(.\d]/.test(candidate)) continue;
    if (best === undefined || candidate.length > best.length) best = candidate;
  }
  return best;
}

export function offlineReply(turns: readonly OfflineTurn[], tools: readonly string[]): OfflineReply {
  const trailingTools: OfflineTurn[] = [];
  for (let i = turns.length - 1; i >= 0 && turns[i]!.role === 'tool'; i--) trailingTools.unshift(turns[i]!);
  const lastUser = [...turns].reverse().find((t) => t.role === 'user')?.content ?? '';
  const zh = CJK.test(lastUser);
  if (trailingTools.length > 0) return { text: trailingTools.map((t) => summarize(t, zh)).join(' '), toolCalls: [] };

  const calls: { name: string; args: Record<string, unknown> }[] = [];
  if (tools.includes('current_time') && TIME.test(lastUser)) {
    const zone = TIME_ZONE.exec(lastUser)?.[1];
    calls.push({ name: 'current_time', args: zone ? { time_zone: zone } : {} });
  }
  const expression = findArithmetic(lastUser);
  if (tools.includes('calculator') && expression !== undefined) calls.push({ name: 'calculator', args: { expression } });
  if (tools.includes('my_profile') && PROFILE.test(lastUser)) calls.push({ name: 'my_profile', args: {} });
  if (calls.length > 0) return { text: '', toolCalls: calls };

  const text = zh
    ? `我是离线演示模型(未配置大模型)。我可以报告当前时间、计算算术题(例如 2 * (3 + 4)),以及查看你的资料。你说:“${clip(lastUser)}”`
    : `I am the offline demo model (no LLM is configured). I can tell the time, work out arithmetic such as 2 * (3 + 4), and show your profile. You said: "${clip(lastUser)}"`;
  return { text, toolCalls: [] };
}

function summarize(turn: OfflineTurn, zh: boolean): string {
  if (turn.failed)
    return zh
      ? `抱歉,${turn.toolName ?? '工具'} 出错了:${turn.content}`
      : `Sorry, ${turn.toolName ?? 'the tool'} did not work: ${turn.content}`;
  switch (turn.toolName) {
    case 'current_time': {
      const parsed = parseJson(turn.content) as { local?: string; time_zone?: string } | undefined;
      const when = parsed?.local ?? turn.content;
      return zh ? `现在是 ${when}(${parsed?.time_zone ?? 'UTC'})。` : `It is ${when} (${parsed?.time_zone ?? 'UTC'}).`;
    }
    case 'calculator':
      return zh ? `计算结果是 ${turn.content}。` : `The result is ${turn.content}.`;
    case 'my_profile': {
      const p = parseJson(turn.content) as { username?: string; bio?: string | null } | undefined;
      if (!p?.username) return turn.content;
      const bio = p.bio ? (zh ? `简介:${p.bio}` : ` Bio: ${p.bio}`) : '';
      return zh ? `你是 ${p.username}。${bio}` : `You are signed in as ${p.username}.${bio}`;
    }
    case undefined:
    default:
      return turn.content;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function clip(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
