import type { Locale } from '../../../common/i18n/locale';

export interface MailContent {
  readonly subject: string;
  readonly text: string;
  readonly html: string;
}

interface CodeMailInput {
  readonly username: string;
  readonly code: string;
  readonly minutes: number;
  /** Absolute link to the client's confirmation page, `?email=` already added. */
  readonly link?: string;
}

/**
 * The signup code mail. The code stands alone on its own line (clients and tests pick the only
 * standalone 6-digit number), and the mail names the username it confirms, so a recipient of
 * two codes for one address can tell whose signup each one completes.
 */
export function codeMail(locale: Locale, input: CodeMailInput): MailContent {
  const { username, code, minutes, link } = input;
  if (locale === 'en') {
    const lines = [
      `Your verification code for the username "${username}":`,
      '',
      code,
      '',
      `It expires in ${minutes} minutes and works once.`,
      ...(link ? ['', `Continue here: ${link}`] : []),
      '',
      `If you did not sign up as "${username}", ignore this mail: nothing happens without the code.`,
    ];
    return { subject: `Your verification code: ${code}`, text: lines.join('\n'), html: toHtml(lines, code) };
  }
  const lines = [
    `用户名「${username}」的注册验证码:`,
    '',
    code,
    '',
    `验证码 ${minutes} 分钟内有效,只能使用一次。`,
    ...(link ? ['', `继续注册:${link}`] : []),
    '',
    `如果您没有以「${username}」注册,请忽略此邮件:没有验证码,任何人都无法完成注册。`,
  ];
  return { subject: `您的验证码:${code}`, text: lines.join('\n'), html: toHtml(lines, code) };
}

/** Sent instead of a code when the address already belongs to a confirmed account. */
export function alreadyRegisteredMail(locale: Locale): MailContent {
  if (locale === 'en') {
    const lines = [
      'Someone tried to sign up with your email address, which already has an account.',
      '',
      'If it was you, sign in with your password instead. If not, you can ignore this mail: your account is unchanged.',
    ];
    return { subject: 'Sign-up attempt with your email address', text: lines.join('\n'), html: toHtml(lines) };
  }
  const lines = [
    '有人尝试使用您的邮箱注册新账号,但该邮箱已注册。',
    '',
    '如果是您本人,请直接使用密码登录;如果不是,请忽略此邮件,您的账号不受影响。',
  ];
  return { subject: '有人尝试使用您的邮箱注册', text: lines.join('\n'), html: toHtml(lines) };
}

function toHtml(lines: readonly string[], code?: string): string {
  const body = lines
    .map((line) =>
      line === code
        ? `<p style="font-size:24px;letter-spacing:4px"><strong>${escape(line)}</strong></p>`
        : line
          ? `<p>${escape(line)}</p>`
          : '',
    )
    .join('\n');
  return `<!doctype html><html><body>${body}</body></html>`;
}

function escape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}
