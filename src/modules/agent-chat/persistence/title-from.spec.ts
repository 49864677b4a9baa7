import { titleFrom } from './agent-chat.repository';

describe('titleFrom', () => {
  it('keeps a short message whole, with its whitespace folded', () => {
    expect(titleFrom('  What is\n 6 *\t7?  ')).toBe('What is 6 * 7?');
    expect(titleFrom('👍'.repeat(80))).toBe('👍'.repeat(80)); // 160 UTF-16 units, 80 characters
  });

  it('cuts a long one at 80 code points with an ellipsis, between characters, never inside an emoji', () => {
    const cut = titleFrom(`a${'👍'.repeat(100)}`);
    expect(cut).toBe(`a${'👍'.repeat(78)}…`);
    expect([...cut]).toHaveLength(80);
    expect(cut).not.toMatch(/\p{Cs}|\uFFFD/u);
    const family = '👨‍👩‍👧‍👦'; // 7 code points, one character
    const families = titleFrom(family.repeat(20));
    expect(families).toBe(`${family.repeat(11)}…`);
    expect(titleFrom('x'.repeat(200))).toBe(`${'x'.repeat(79)}…`);
  });
});
