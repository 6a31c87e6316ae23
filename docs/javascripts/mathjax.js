// MathJax 3 reads this before it loads. The chapters (notebooks) write TeX between $...$ and
// $$...$$, the Markdown pages between \(...\) and \[...\] (pymdownx.arithmatex): accept both.
window.MathJax = {
  tex: {
    inlineMath: [["$", "$"], ["\\(", "\\)"]],
    displayMath: [["$$", "$$"], ["\\[", "\\]"]],
    processEscapes: true,
  },
  options: {skipHtmlTags: ["script", "noscript", "style", "textarea", "pre", "code"]},
};
