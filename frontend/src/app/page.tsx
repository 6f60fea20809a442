import Link from 'next/link';
import { PublicSupportChat } from '@/components/chat/PublicSupportChat';
import { serverChatUrl } from '@/lib/runtime-config';

export const dynamic = 'force-dynamic';

export default function Home() {
  return (
    <main className="mx-auto max-w-3xl px-4 py-10">
      <h1 className="font-chat-heading text-3xl font-bold text-chat-text">SEI Tech International</h1>
      <p className="mt-3 text-chat-muted">
        Health and safety training, e-learning and consultancy. Questions about a course, your account or an invoice? Our
        team is one click away: use the chat button in the corner.
      </p>
      <ul className="mt-6 grid gap-3 sm:grid-cols-3">
        {['IOSH Managing Safely', 'NEBOSH General Certificate', 'First Aid at Work'].map((c) => (
          <li key={c} className="rounded-xl border border-chat-border bg-chat-bg p-4 text-sm font-medium">
            {c}
          </li>
        ))}
      </ul>
      <p className="mt-8 text-sm">
        Staff and students: <Link href="/chat" className="text-chat-primary underline">open the full chat</Link>.
      </p>
      <PublicSupportChat url={serverChatUrl()} />
    </main>
  );
}
