// The auto-reply filter (domain/reply-suggestions.ts): what a fan could make the model write to
// take a conversation off the platform never goes out without a person; ordinary replies do.
import { describe, expect, it } from 'vitest';
import { hasContactDetails } from '../../domain/reply-suggestions.js';

describe('hasContactDetails', () => {
  it('catches links, domains, addresses, handles, apps and phone numbers, however they are disguised', () => {
    for (const text of [
      'see https://mia.example',
      'www.mia',
      'mia.example',
      'mia . example',
      'mia\u200B.example',
      'пример.рф',
      'mail me: mia@example.com',
      'find me @mia_x',
      'insta: mia_x',
      'add me on Snapchat',
      'whats app me',
      '555 010 2030',
      '555-010-2030',
      '555,010,2030',
      '555\u200B010\u200B2030',
      '5️⃣5️⃣5️⃣0️⃣1️⃣0️⃣2️⃣',
      '５５５０１０２０３０',
      'hi\u202Ethere',
    ])
      expect(hasContactDetails(text), JSON.stringify(text)).toBe(true);
  });

  it('lets ordinary replies through', () => {
    for (const text of [
      'Thank you babe! I’ll post 3 new pics tonight. Love you 😘',
      'That set is $12.99, only for you',
      'See you soon.\nKisses',
      'e.g. tomorrow at 9',
      'I turned 25 in 2024!',
    ])
      expect(hasContactDetails(text), JSON.stringify(text)).toBe(false);
  });
});
