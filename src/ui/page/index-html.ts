/** The page: plain HTML, one stylesheet, one script; every URL relative (they stay under the token). */
export const INDEX_HTML = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Metis &mdash; give a node a new card</title>
<link rel="stylesheet" href="app.css">
<script src="app.js" defer></script>
</head>
<body>
<header>
  <div class="brand"><h1>Metis</h1><p>Choose the node, choose the card, write &mdash; then watch the node come back.</p></div>
  <nav aria-label="Steps">
    <ol class="steps">
      <li><button type="button" id="nav-node" data-go="node" aria-current="step">1. Node</button></li>
      <li><button type="button" id="nav-card" data-go="card" disabled>2. Card</button></li>
      <li><button type="button" id="nav-write" data-go="write" disabled>3. Write</button></li>
      <li class="sep"><button type="button" id="nav-fleet" data-go="fleet">Fleet</button></li>
    </ol>
  </nav>
</header>
<p id="conn" class="conn" role="status"></p>
<main>
<section id="step-node" aria-labelledby="h-node">
  <h2 id="h-node" tabindex="-1">1. Which node gets a new card?</h2>
  <div class="field"><label for="filter">Filter</label><input id="filter" type="search" autocomplete="off" placeholder="name, class or address"></div>
  <div id="nodes-error" class="error" role="alert" hidden></div>
  <fieldset>
    <legend>Nodes in the inventory</legend>
    <div id="node-list" class="choices"><p class="muted">Loading the inventory&hellip;</p></div>
  </fieldset>
  <details id="manifest-box" hidden>
    <summary>The manifest this card gets (secrets masked)</summary>
    <pre id="manifest" tabindex="0"></pre>
  </details>
  <div class="actions"><button type="button" id="to-card" class="primary" disabled>Next: choose the card</button></div>
</section>

<section id="step-card" aria-labelledby="h-card" hidden>
  <h2 id="h-card" tabindex="-1">2. Which card?</h2>
  <p>Insert the card now. It shows up here by itself; disks that hold this computer's system are never offered.</p>
  <fieldset class="where">
    <legend>Card reader on</legend>
    <label class="inline"><input type="radio" name="where" value="local" checked> this computer</label>
    <span id="flasher-list"></span>
    <p id="flasher-note" class="muted"></p>
  </fieldset>
  <div id="devices-error" class="error" role="alert" hidden></div>
  <fieldset>
    <legend>Cards and disks</legend>
    <div id="device-list" class="choices"><p class="muted">Looking for disks&hellip;</p></div>
    <p id="system-note" class="muted"></p>
    <div class="choice file-choice">
      <input type="radio" name="device" id="dev-file" value="@file">
      <label for="dev-file"><strong>An image file</strong> instead of a card</label>
      <div class="field"><label for="to-file">Image file path (on the machine running metis ui)</label><input id="to-file" autocomplete="off" spellcheck="false"></div>
    </div>
  </fieldset>
  <p id="hotplug" class="hotplug" role="status" aria-live="polite"></p>
  <div class="actions"><button type="button" id="back-node">Back</button><button type="button" id="to-write" class="primary" disabled>Next: write</button></div>
</section>

<section id="step-write" aria-labelledby="h-write" hidden>
  <h2 id="h-write" tabindex="-1">3. Write the card</h2>
  <dl id="summary" class="summary"></dl>
  <div id="write-actions" class="actions"><button type="button" id="back-card">Back</button><button type="button" id="write" class="danger">Write</button></div>
  <div id="progress-box" class="progress" hidden>
    <p id="phase" class="phase" role="status" aria-live="polite"></p>
    <progress id="bar" max="100" value="0" aria-labelledby="phase"></progress>
    <p id="rate" class="rate"></p>
    <p id="image-line" class="muted"></p>
    <div class="actions"><button type="button" id="cancel">Cancel</button></div>
  </div>
  <div id="burn-error" class="error" role="alert" hidden></div>
  <div id="done-box" hidden>
    <p id="done-text" class="ok" role="status"></p>
    <p id="insert" class="callout"></p>
    <h3 id="h-rejoin">Rejoin checklist <span class="muted">(metis wait, live)</span></h3>
    <ul id="checklist" class="checklist" aria-labelledby="h-rejoin" aria-live="polite"></ul>
    <div id="wait-error" class="error" role="alert" hidden></div>
    <div class="actions"><button type="button" id="wait-again">Check again</button><button type="button" id="another">Write another card</button></div>
  </div>
</section>

<section id="step-fleet" aria-labelledby="h-fleet" hidden>
  <h2 id="h-fleet" tabindex="-1">Fleet</h2>
  <p>The cluster's view of every node (metis status).</p>
  <div class="actions"><button type="button" id="fleet-refresh">Refresh</button></div>
  <div id="fleet-error" class="error" role="alert" hidden></div>
  <div class="table-wrap" tabindex="0" aria-label="Fleet table"><table id="fleet"></table></div>
</section>
</main>

<dialog id="confirm" aria-labelledby="confirm-title" aria-describedby="confirm-question">
  <h2 id="confirm-title">Erase this card?</h2>
  <dl id="confirm-summary" class="summary"></dl>
  <p id="confirm-question"></p>
  <div class="actions"><button type="button" id="confirm-no" autofocus>Cancel</button><button type="button" id="confirm-yes" class="danger">Erase and write</button></div>
</dialog>
</body>
</html>
`;
