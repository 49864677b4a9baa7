import { CALCULATOR_MAX_LENGTH, CalculatorError, evaluateArithmetic, formatNumber } from './calculator';

describe('evaluateArithmetic', () => {
  it.each([
    ['1 + 2', 3],
    ['2 + 3 * 4', 14],
    ['(2 + 3) * 4', 20],
    ['10 / 4', 2.5],
    ['10 % 4', 2],
    ['2 ^ 3 ^ 2', 512],
    ['-2 ^ 2', -4],
    ['2 ^ -1', 0.5],
    ['--3', 3],
    ['-(1 + 2) * 3', -9],
    ['.5 + 1.', 1.5],
    ['1e3 + 1', 1001],
    ['  7  ', 7],
  ])('%s = %d', (expression, expected) => {
    expect(evaluateArithmetic(expression)).toBeCloseTo(expected, 10);
  });

  it.each([
    ['', 'empty expression'],
    ['1 +', 'unexpected end'],
    ['(1 + 2', 'missing closing parenthesis'],
    ['1 + 2)', 'unexpected input'],
    ['1 / 0', 'division by zero'],
    ['5 % 0', 'division by zero'],
    ['1..2', 'unexpected'],
    ['10 ^ 400', 'not a finite'],
    ['2 3', 'unexpected input'],
  ])('rejects %j (%s)', (expression, reason) => {
    expect(() => evaluateArithmetic(expression)).toThrow(CalculatorError);
    expect(() => evaluateArithmetic(expression)).toThrow(reason);
  });

  it.each([
    'process.exit(1)',
    'require("child_process")',
    'constructor.constructor("return this")()',
    '1; while(true){}',
    'this',
    '__proto__',
    '`${1}`',
    '0x10',
    'Infinity',
    'NaN',
    '1 + 2 // comment',
    '\u0000',
  ])('rejects hostile input %j without evaluating it', (expression) => {
    expect(() => evaluateArithmetic(expression)).toThrow(CalculatorError);
  });

  it('rejects over-long input and deep nesting instead of exhausting the stack', () => {
    expect(() => evaluateArithmetic('1+'.repeat(CALCULATOR_MAX_LENGTH) + '1')).toThrow('longer than');
    expect(() => evaluateArithmetic('('.repeat(60) + '1' + ')'.repeat(60))).toThrow('nested too deeply');
    expect(() => evaluateArithmetic('-'.repeat(60) + '1')).toThrow('nested too deeply');
    expect(evaluateArithmetic('('.repeat(20) + '1' + ')'.repeat(20))).toBe(1);
  });

  it('formats results without floating-point noise', () => {
    expect(formatNumber(evaluateArithmetic('0.1 + 0.2'))).toBe('0.3');
    expect(formatNumber(evaluateArithmetic('2 ^ 53'))).toBe('9007199254740992');
    expect(formatNumber(evaluateArithmetic('1 / 3'))).toBe('0.333333333333');
  });
});
