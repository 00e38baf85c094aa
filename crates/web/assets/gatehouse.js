// Gatehouse's own few lines of script. Everything works without it; with it, a link marked
// data-dialog="ID" opens <dialog id="ID"> as a modal instead of navigating, and a page whose URL ends in
// #ID (after a form inside the dialog was sent) opens that dialog again.
(function () {
  function open(id) {
    var d = id && document.getElementById(id);
    if (!d || d.tagName !== "DIALOG" || typeof d.showModal !== "function") return false;
    if (!d.open) d.showModal();
    return true;
  }
  document.addEventListener("click", function (e) {
    var link = e.target.closest && e.target.closest("[data-dialog]");
    if (link && open(link.getAttribute("data-dialog"))) {
      e.preventDefault();
      history.replaceState(null, "", "#" + link.getAttribute("data-dialog"));
    }
  });
  document.addEventListener("close", function (e) {
    if (e.target.tagName === "DIALOG" && location.hash === "#" + e.target.id) {
      history.replaceState(null, "", location.pathname + location.search);
    }
  }, true);
  open(location.hash.slice(1));
})();
