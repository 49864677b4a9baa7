import { z } from 'zod';
import { ToolInputError, type AgentToolDefinition } from './agent-tool';
import { CALCULATOR_MAX_LENGTH, CalculatorError, evaluateArithmetic, formatNumber } from './calculator';

const schema = z.object({
  expression: z
    .string()
    .min(1)
    .max(CALCULATOR_MAX_LENGTH)
    .describe('Arithmetic with numbers, + - * / % ^ and parentheses, e.g. "(2 + 3) * 4"'),
});

export function calculatorTool(): AgentToolDefinition<typeof schema> {
  return {
    name: 'calculator',
    description: 'Evaluates an arithmetic expression exactly (numbers, + - * / % ^, parentheses). Use it for any calculation.',
    schema,
    maxOutputChars: 200,
    run({ expression }) {
      try {
        return Promise.resolve(formatNumber(evaluateArithmetic(expression)));
      } catch (error) {
        if (error instanceof CalculatorError) return Promise.reject(new ToolInputError(error.message));
        return Promise.reject(error instanceof Error ? error : new Error(String(error)));
      }
    },
  };
}
