// Thorium Reader's own EPUB parser (r2-shared-js, the Readium 2 models and parser that Thorium
// is built on) reads an EPUB and its media overlays, as Thorium does before it plays one; what it
// found is printed as JSON for backend/tests/test_epub_overlay.py to check. Usage:
//   node overlays.cjs BOOK.epub
// Prints {narrators, activeClass, duration, spine: [{href, duration, clips}]}, where clips (null
// without an overlay) are the overlay's timed leaves in playing order: {text, audio, begin, end,
// within} (text and audio are paths in the EPUB with their #fragment; within is the textref of
// the <seq> a word's <par> plays in, else null).
"use strict";
const {
  initGlobalConverters_GENERIC,
  initGlobalConverters_SHARED,
} = require("r2-shared-js/dist/es8-es2017/src/init-globals");
const { EpubParsePromise, getMediaOverlay } = require("r2-shared-js/dist/es8-es2017/src/parser/epub");

initGlobalConverters_SHARED();
initGlobalConverters_GENERIC();

function clipsOf(node, within, out) {
  if (node.Audio) {
    out.push({
      text: node.Text ?? null,
      audio: node.Audio.split("#")[0],
      begin: node.AudioClipBegin ?? null,
      end: node.AudioClipEnd ?? null,
      within,
    });
  }
  for (const child of node.Children ?? []) {
    clipsOf(child, node.Text && !node.Audio ? node.Text : within, out);
  }
  return out;
}

async function main(path) {
  const publication = await EpubParsePromise(path);
  const spine = [];
  for (const link of publication.Spine ?? []) {
    let clips = null;
    if (link.MediaOverlays) {
      clips = clipsOf(await getMediaOverlay(publication, link.Href), null, []);
    }
    spine.push({ href: link.Href, duration: link.Duration ?? null, clips });
  }
  const metadata = publication.Metadata;
  return {
    narrators: (metadata.Narrator ?? []).map((contributor) => contributor.Name),
    activeClass: metadata.MediaOverlay?.ActiveClass ?? null,
    duration: metadata.Duration ?? null,
    spine,
  };
}

main(process.argv[2]).then(
  (found) => process.stdout.write(JSON.stringify(found)),
  (error) => {
    process.stderr.write(`${error?.stack ?? error}\n`);
    process.exit(1);
  },
);
