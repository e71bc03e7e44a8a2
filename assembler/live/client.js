// redtap live client: follows the Server-Sent Events of an assembler/live
// hub in a browser. Served by live.ClientJS (at /redtap-live.js in the
// example programs); no dependencies, no build step.
//
//   redtapLive.connect('events', {
//     updates(ev) { ... JSON.parse(ev.data) ... },  // the windows: replace your state
//     dUpdates(ev) { ... },                         // the changes since: apply them
//     state(s) { ... },                             // 'connected' | 'reconnecting' | 'disconnected'
//   });
//
// EventSource reconnects by itself after a network error (its state is then
// CONNECTING, reported as 'reconnecting') and resumes with Last-Event-ID. It
// gives up on an HTTP error (CLOSED, reported as 'disconnected'): the client
// then opens a new one after retryMs (default 3000).
(function () {
  'use strict';
  function connect(url, h, retryMs) {
    const state = h.state || function () {};
    let es = null;
    const open = () => {
      es = new EventSource(url);
      es.onopen = () => state('connected');
      es.onerror = () => {
        if (es.readyState === EventSource.CLOSED) {
          state('disconnected');
          es.close();
          setTimeout(open, retryMs || 3000);
        } else {
          state('reconnecting');
        }
      };
      es.addEventListener('updates', h.updates);
      es.addEventListener('dUpdates', h.dUpdates);
    };
    open();
  }
  window.redtapLive = { connect: connect };
})();
