import { ChatPage } from './ChatPage';
import { serverChatUrl } from '@/lib/runtime-config';

export const dynamic = 'force-dynamic';

export const metadata = { title: 'Chat · SEI Tech' };

export default function Page() {
  return <ChatPage url={serverChatUrl()} />;
}
