// The seed's chat colours and fonts, applied as CSS custom properties so the
// host app can override any of them (on :root or any ancestor element).

export const chatTheme = {
  colors: {
    primary: '#0284c7',
    primaryContrast: '#ffffff',
    secondary: '#16a34a',
    background: '#ffffff',
    surface: '#f8fafc',
    text: '#0b1220',
    textSecondary: '#64748b',
    border: '#e2e8f0',
    error: '#ef4444',
    success: '#22c55e',
  },
  fonts: {
    body: 'Inter, ui-sans-serif, system-ui, sans-serif',
    heading: '"Plus Jakarta Sans", Inter, ui-sans-serif, system-ui, sans-serif',
  },
  borderRadius: { sm: '0.25rem', md: '0.5rem', lg: '1rem', full: '9999px' },
} as const;

export type ChatTheme = {
  colors: Partial<Record<keyof typeof chatTheme.colors, string>>;
  fonts: Partial<Record<keyof typeof chatTheme.fonts, string>>;
  borderRadius: Partial<Record<keyof typeof chatTheme.borderRadius, string>>;
};

const COLOR_VARS: Record<keyof typeof chatTheme.colors, string> = {
  primary: '--chat-primary',
  primaryContrast: '--chat-primary-contrast',
  secondary: '--chat-secondary',
  background: '--chat-background',
  surface: '--chat-surface',
  text: '--chat-text',
  textSecondary: '--chat-text-secondary',
  border: '--chat-border',
  error: '--chat-error',
  success: '--chat-success',
};

/** The CSS variables of a theme (defaults merged with overrides). */
export function themeToCssVars(overrides: Partial<ChatTheme> = {}): Record<string, string> {
  const colors = { ...chatTheme.colors, ...(overrides.colors ?? {}) };
  const fonts = { ...chatTheme.fonts, ...(overrides.fonts ?? {}) };
  const radius = { ...chatTheme.borderRadius, ...(overrides.borderRadius ?? {}) };
  const vars: Record<string, string> = {};
  for (const [k, v] of Object.entries(colors)) vars[COLOR_VARS[k as keyof typeof COLOR_VARS]] = v;
  vars['--chat-font-body'] = fonts.body;
  vars['--chat-font-heading'] = fonts.heading;
  for (const [k, v] of Object.entries(radius)) vars[`--chat-radius-${k}`] = v;
  return vars;
}

/** A stylesheet declaring the defaults on :root; host styles declared later win. */
export function themeStylesheet(selector = ':root', overrides: Partial<ChatTheme> = {}): string {
  const body = Object.entries(themeToCssVars(overrides))
    .map(([k, v]) => `${k}:${v};`)
    .join('');
  return `${selector}{${body}}`;
}

export function applyChatTheme(el: HTMLElement, overrides: Partial<ChatTheme> = {}): void {
  for (const [k, v] of Object.entries(themeToCssVars(overrides))) el.style.setProperty(k, v);
}
