import type { Metadata, Viewport } from 'next';
import './globals.css';
import { themeStylesheet } from '@/lib/chat-theme';

export const metadata: Metadata = {
  title: 'SEI Tech chat',
  description: 'Live chat of the SEI Tech e-learning platform',
};

export const viewport: Viewport = { width: 'device-width', initialScale: 1 };

export default function RootLayout({ children }: { children: React.ReactNode }) {
  return (
    <html lang="en">
      <head>
        {/* Chat theme defaults; a host stylesheet loaded later overrides them. */}
        <style dangerouslySetInnerHTML={{ __html: themeStylesheet(':root') }} />
      </head>
      <body>{children}</body>
    </html>
  );
}
