export { ChatProvider, useChat, useOptionalChat } from './ChatContext';
export type { ChatContextValue, ChatProviderProps, SendInput, SupportStartInput } from './ChatContext';
export { ChatInterface } from './ChatInterface';
export { ChatSidebar } from './ChatSidebar';
export { ChatWindow, MessageList, Composer } from './ChatWindow';
export { PublicSupportChat } from './PublicSupportChat';
export { determineChatRecipients, canStartConversation, allowedRecipients } from '@/lib/chat-routing';
export { chatTheme, applyChatTheme, themeToCssVars, themeStylesheet } from '@/lib/chat-theme';
export type * from '@/lib/chat-types';
