/**
 * A safe arithmetic evaluator: a hand-written recursive-descent parser over numbers,
 * + - * / % ^ and parentheses. No eval, no Function, no identifiers; bounded input length and
 * nesting depth, so hostile input is rejected instead of running anything or exhausting the stack.
 */
export class CalculatorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CalculatorError';
  }
}

export const CALCULATOR_MAX_LENGTH = 200;
const MAX_DEPTH = 32;

type Token = { kind: 'num'; value: number } | { kind: 'op'; value: string };

function tokenize(input: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i]!;
    if (c === ' ' || c === '\t') {
      i++;
    } else if ('+-*/%^()'.includes(c)) {
      tokens.push({ kind: 'op', value: c });
      i++;
    } else if ((c >= '0' && c <= '9') || c === '.') {
      const match = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,3})?/.exec(input.slice(i));
      if (!match) throw new CalculatorError(`invalid number at position ${i + 1}`);
      tokens.push({ kind: 'num', value: Number(match[0]) });
      i += match[0].length;
    } else {
      throw new CalculatorError(`unexpected character "${c}" at position ${i + 1}`);
    }
  }
  return tokens;
}

class Parser {
  private pos = 0;
  private depth = 0;
  constructor(private readonly tokens: Token[]) {}

  parse(): number {
    if (this.tokens.length === 0) throw new CalculatorError('empty expression');
    const value = this.expression();
    if (this.pos < this.tokens.length) throw new CalculatorError('unexpected input after the expression');
    return value;
  }

  // expression := term (('+' | '-') term)*
  private expression(): number {
    let value = this.term();
    for (let op = this.peekOp(); op === '+' || op === '-'; op = this.peekOp()) {
      this.pos++;
      const right = this.term();
      value = op === '+' ? value + right : value - right;
    }
    return value;
  }

  // term := unary (('*' | '/' | '%') unary)*
  private term(): number {
    let value = this.unary();
    for (let op = this.peekOp(); op === '*' || op === '/' || op === '%'; op = this.peekOp()) {
      this.pos++;
      const right = this.unary();
      if ((op === '/' || op === '%') && right === 0) throw new CalculatorError('division by zero');
      value = op === '*' ? value * right : op === '/' ? value / right : value % right;
    }
    return value;
  }

  // unary := ('+' | '-') unary | power
  private unary(): number {
    const op = this.peekOp();
    if (op === '+' || op === '-') {
      this.pos++;
      const value = this.nested(() => this.unary());
      return op === '-' ? -value : value;
    }
    return this.power();
  }

  // power := primary ('^' unary)?   (right-associative, binds tighter than unary minus on its left)
  private power(): number {
    const base = this.primary();
    if (this.peekOp() !== '^') return base;
    this.pos++;
    const exponent = this.nested(() => this.unary());
    return base ** exponent;
  }

  // primary := number | '(' expression ')'
  private primary(): number {
    const token = this.tokens[this.pos];
    if (token === undefined) throw new CalculatorError('unexpected end of expression');
    if (token.kind === 'num') {
      this.pos++;
      return token.value;
    }
    if (token.value === '(') {
      this.pos++;
      const value = this.nested(() => this.expression());
      if (this.peekOp() !== ')') throw new CalculatorError('missing closing parenthesis');
      this.pos++;
      return value;
    }
    throw new CalculatorError(`unexpected "${token.value}"`);
  }

  private nested(fn: () => number): number {
    if (++this.depth > MAX_DEPTH) throw new CalculatorError('expression is nested too deeply');
    try {
      return fn();
    } finally {
      this.depth--;
    }
  }

  private peekOp(): string | undefined {
    const token = this.tokens[this.pos];
    return token?.kind === 'op' ? token.value : undefined;
  }
}

/** Evaluates an arithmetic expression; throws {@link CalculatorError} with a safe reason. */
export function evaluateArithmetic(expression: string): number {
  if (expression.length > CALCULATOR_MAX_LENGTH) throw new CalculatorError(`expression longer than ${CALCULATOR_MAX_LENGTH} characters`);
  const value = new Parser(tokenize(expression)).parse();
  if (!Number.isFinite(value)) throw new CalculatorError('result is not a finite number');
  return value;
}

/** Formats without float noise (0.1+0.2 → 0.3) while keeping integers exact. */
export function formatNumber(value: number): string {
  if (Number.isInteger(value)) return String(value);
  return String(Number(value.toPrecision(12)));
}
