// The widget's default FAQ and the pre-chat form's quick actions (plain data).
import type { QueryType } from '@/lib/chat-types';

export interface Faq {
  q: string;
  a: string;
}

export const DEFAULT_FAQS: Faq[] = [
  { q: 'How do I enrol in a course?', a: 'Open the course page, choose a date or the e-learning option and press “Enrol now”.' },
  { q: 'What payment methods do you accept?', a: 'Card payments, bank transfer and invoices for companies.' },
  { q: 'Where do I find my certificate?', a: 'Certificates appear under Dashboard → Certificates as soon as you pass.' },
];

export interface QuickAction {
  label: string;
  queryType: QueryType;
  message: string;
}

export const QUICK_ACTIONS: QuickAction[] = [
  { label: 'Request a callback', queryType: 'other', message: 'Please call me back.' },
  { label: 'Course advice', queryType: 'course_inquiry', message: 'I would like advice on choosing a course.' },
  { label: 'Login problem', queryType: 'technical_support', message: 'I cannot log in to my account.' },
];
