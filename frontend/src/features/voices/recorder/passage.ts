/** About thirty seconds of varied English: questions, numbers, many sounds. */
export const READING_PASSAGE = [
  "On a bright morning in early June, Maya packed a thermos of coffee, two cheese sandwiches and a well-worn map.",
  "“Are we really walking all the way to the lighthouse?” her brother asked, squinting at the cliffs.",
  "She laughed and pointed past the harbour, where fishing boats bobbed beside a quiet yellow jetty.",
  "The path was steep, but the view was worth every step: wild thyme, grazing sheep, and a sea that shifted from grey to brilliant blue.",
  "By twelve o'clock they had climbed all 243 steps, breathless, sunburnt and wonderfully happy.",
];

export function consentSentence(name: string): string {
  const who = name.trim() || "<your name>";
  return `I, ${who}, agree that Ownvoice may create a synthetic copy of my voice.`;
}
