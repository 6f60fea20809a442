import { ChatPage } from './ChatPage';

export const metadata = { title: 'Chat · SEI Tech' };

export default function Page() {
  return <ChatPage />;
}
