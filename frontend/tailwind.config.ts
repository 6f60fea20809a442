import type { Config } from 'tailwindcss';

// Chat colours come from CSS variables (see src/lib/chat-theme.ts) so a host
// app can override them without rebuilding the components.
const config: Config = {
  content: ['./src/**/*.{ts,tsx}'],
  theme: {
    extend: {
      colors: {
        chat: {
          primary: 'var(--chat-primary)',
          'primary-contrast': 'var(--chat-primary-contrast)',
          secondary: 'var(--chat-secondary)',
          bg: 'var(--chat-background)',
          surface: 'var(--chat-surface)',
          text: 'var(--chat-text)',
          muted: 'var(--chat-text-secondary)',
          border: 'var(--chat-border)',
          error: 'var(--chat-error)',
          success: 'var(--chat-success)',
        },
      },
      fontFamily: {
        chat: 'var(--chat-font-body)',
        'chat-heading': 'var(--chat-font-heading)',
      },
      borderRadius: { chat: 'var(--chat-radius-lg)' },
      keyframes: {
        'chat-pop': { '0%': { opacity: '0', transform: 'translateY(12px) scale(0.98)' }, '100%': { opacity: '1', transform: 'none' } },
      },
      animation: { 'chat-pop': 'chat-pop 180ms ease-out' },
    },
  },
  plugins: [],
};
export default config;
