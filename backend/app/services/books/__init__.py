"""Book import: EPUB and plain text parsed into chapters → paragraphs → sentences, then stored."""
