/** The emoji sets of the chat UI: quick reactions on a message, the composer's picker. */
export const QUICK_EMOJIS = ['👍', '❤️', '😂', '🎉', '😮', '🙏'];
export const PICKER_EMOJIS = ['😀', '😊', '😂', '😍', '🤔', '😢', '😮', '👍', '👏', '🙏', '🎉', '❤️', '🔥', '✅', '📚', '💡'];
