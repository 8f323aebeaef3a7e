/*
 * Managed by provisioner (role meeting_server): joins the comune's video room on this platform.
 *
 * The room is the page's path (/riunioni/<room>/); its name comes from room.json next to it. The
 * clerk gives a name and the room's PIN; Janus checks the PIN for every join, as publisher and as
 * subscriber. TURN credentials are fetched fresh for every join and expire (see /turn-credentials).
 * The state lives in window.meeting (status, error, handles): the helpdesk and tests read it.
 */
"use strict";

(function () {
  const ROOM_PATH = /^\/riunioni\/([a-z0-9][a-z0-9-]{0,62})\/$/;
  const ERROR_UNAUTHORIZED = 433;
  const ERROR_NO_SUCH_ROOM = 426;
  const ERROR_PUBLISHERS_FULL = 432;

  const params = new URLSearchParams(window.location.search);
  const match = window.location.pathname.match(ROOM_PATH);
  const meeting = {
    status: "loading",
    room: match ? match[1] : null,
    // Diagnostics for the helpdesk: ?relay=1 sends the media through the platform's TURN only.
    relayOnly: params.get("relay") === "1",
    error: null,
    janus: null,
    publisher: null,
    privateId: null,
    feeds: {},
  };
  window.meeting = meeting;

  const byId = (id) => document.getElementById(id);

  function setStatus(status, text) {
    meeting.status = status;
    document.body.dataset.status = status;
    byId("status").textContent = text;
  }

  function fail(status, code, reason) {
    meeting.error = { code: code, reason: String(reason) };
    setStatus(status, reason);
    Object.keys(meeting.feeds).forEach(removeFeed);
    if (meeting.janus) {
      const janus = meeting.janus;
      meeting.janus = null;
      janus.destroy({ cleanupHandles: true });
    }
    byId("join").hidden = status !== "refused";
    byId("join-button").disabled = false;
  }

  // A Janus error on a join: a wrong PIN is a refusal, anything else an error.
  function joinError(msg) {
    const code = msg.error_code;
    if (code === ERROR_UNAUTHORIZED) {
      fail("refused", code, "PIN errato: accesso alla sala rifiutato.");
    } else if (code === ERROR_NO_SUCH_ROOM) {
      fail("error", code, "Questa sala non esiste.");
    } else if (code === ERROR_PUBLISHERS_FULL) {
      fail("refused", code, "La sala è al completo.");
    } else {
      fail("error", code, msg.error || "Errore della piattaforma.");
    }
  }

  async function loadRoom() {
    if (!meeting.room) {
      throw new Error("Indirizzo della sala non valido.");
    }
    const response = await fetch("room.json", { cache: "no-store" });
    if (!response.ok) {
      throw new Error("Questa sala non esiste.");
    }
    const room = await response.json();
    meeting.name = room.name;
    meeting.maxParticipants = room.max_participants;
    byId("room-name").textContent = room.name;
    document.title = "Riunioni — " + room.name;
  }

  // Time-limited TURN credentials for this join (none when the platform runs without TURN).
  async function iceServers() {
    const response = await fetch("/turn-credentials", { cache: "no-store" });
    if (response.status === 404) {
      return [];
    }
    if (!response.ok) {
      throw new Error("Credenziali TURN non disponibili (" + response.status + ").");
    }
    const turn = await response.json();
    meeting.turnExpires = Number(turn.username.split(":")[0]);
    return [{ urls: turn.uris, username: turn.username, credential: turn.credential }];
  }

  function feedElement(id, display) {
    const figure = document.createElement("figure");
    figure.className = "feed remote";
    figure.id = "feed-" + id;
    const video = document.createElement("video");
    video.autoplay = true;
    video.muted = true;
    video.playsInline = true;
    const audio = document.createElement("audio");
    audio.autoplay = true;
    const caption = document.createElement("figcaption");
    caption.textContent = display || "Partecipante";
    figure.append(video, audio, caption);
    byId("videos").append(figure);
    return { figure: figure, video: video, audio: audio };
  }

  function removeFeed(id) {
    const feed = meeting.feeds[id];
    if (!feed) {
      return;
    }
    delete meeting.feeds[id];
    if (feed.handle) {
      feed.handle.detach();
    }
    feed.elements.figure.remove();
  }

  // One subscriber handle per remote publisher; Janus sends the offer, the browser answers.
  function subscribe(publisher, pin) {
    if (meeting.feeds[publisher.id] || !meeting.janus) {
      return;
    }
    const feed = { display: publisher.display, handle: null, elements: feedElement(publisher.id, publisher.display) };
    meeting.feeds[publisher.id] = feed;
    meeting.janus.attach({
      plugin: "janus.plugin.videoroom",
      success: function (handle) {
        feed.handle = handle;
        handle.send({
          message: {
            request: "join",
            room: meeting.room,
            ptype: "subscriber",
            streams: [{ feed: publisher.id }],
            private_id: meeting.privateId,
            pin: pin,
          },
        });
      },
      error: function (cause) {
        fail("error", null, "Errore di collegamento: " + cause);
      },
      onmessage: function (msg, jsep) {
        if (msg.error_code) {
          joinError(msg);
          return;
        }
        if (jsep) {
          feed.handle.createAnswer({
            jsep: jsep,
            tracks: [{ type: "data" }],
            success: function (answer) {
              feed.handle.send({ message: { request: "start", room: meeting.room }, jsep: answer });
            },
            error: function (cause) {
              fail("error", null, "Errore WebRTC: " + (cause.message || cause));
            },
          });
        }
      },
      onremotetrack: function (track, mid, on) {
        const element = track.kind === "video" ? feed.elements.video : feed.elements.audio;
        element.srcObject = on ? new MediaStream([track]) : null;
      },
      oncleanup: function () {
        feed.elements.video.srcObject = null;
      },
    });
  }

  function publish() {
    meeting.publisher.createOffer({
      tracks: [
        { type: "audio", capture: true, recv: false },
        { type: "video", capture: true, recv: false },
      ],
      success: function (jsep) {
        meeting.publisher.send({ message: { request: "configure", audio: true, video: true }, jsep: jsep });
      },
      error: function (cause) {
        // No camera or microphone for this origin (the browser's policy) ends up here.
        fail("error", cause.name || null, "Camera o microfono non disponibili: " + (cause.name || cause));
      },
    });
  }

  function attachPublisher(display, pin) {
    meeting.janus.attach({
      plugin: "janus.plugin.videoroom",
      success: function (handle) {
        meeting.publisher = handle;
        handle.send({ message: { request: "join", room: meeting.room, ptype: "publisher", display: display, pin: pin } });
      },
      error: function (cause) {
        fail("error", null, "Errore di collegamento: " + cause);
      },
      webrtcState: function (on) {
        if (on) {
          setStatus("publishing", "Sei in riunione.");
        }
      },
      onmessage: function (msg, jsep) {
        if (jsep) {
          meeting.publisher.handleRemoteJsep({ jsep: jsep });
        }
        if (msg.error_code) {
          joinError(msg);
          return;
        }
        if (msg.videoroom === "joined") {
          meeting.privateId = msg.private_id;
          meeting.id = msg.id;
          setStatus("joined", "Collegamento in corso…");
          byId("leave").hidden = false;
          publish();
        }
        (msg.publishers || []).forEach(function (publisher) {
          subscribe(publisher, pin);
        });
        [msg.unpublished, msg.leaving, msg.kicked].forEach(function (gone) {
          if (gone !== undefined && gone !== "ok") {
            removeFeed(gone);
          }
        });
      },
      onlocaltrack: function (track, on) {
        if (track.kind === "video") {
          byId("local-video").srcObject = on ? new MediaStream([track]) : null;
        }
      },
    });
  }

  async function join(event) {
    event.preventDefault();
    const display = byId("display").value.trim();
    const pin = byId("pin").value;
    byId("join-button").disabled = true;
    meeting.error = null;
    setStatus("connecting", "Collegamento alla sala…");
    let servers;
    try {
      servers = await iceServers();
    } catch (error) {
      fail("error", null, error.message);
      return;
    }
    Janus.init({
      debug: false,
      dependencies: Janus.useDefaultDependencies(),
      callback: function () {
        byId("join").hidden = true;
        meeting.janus = new Janus({
          server: "/janus",
          iceServers: servers,
          iceTransportPolicy: meeting.relayOnly ? "relay" : "all",
          success: function () {
            attachPublisher(display, pin);
          },
          error: function (cause) {
            fail("error", null, "La piattaforma non risponde: " + cause);
          },
        });
      },
    });
  }

  function leave() {
    Object.keys(meeting.feeds).forEach(removeFeed);
    if (meeting.janus) {
      const janus = meeting.janus;
      meeting.janus = null;
      janus.destroy({ cleanupHandles: true });
    }
    byId("leave").hidden = true;
    setStatus("left", "Hai lasciato la riunione.");
  }

  document.addEventListener("DOMContentLoaded", function () {
    byId("join").addEventListener("submit", join);
    byId("leave").addEventListener("click", leave);
    loadRoom().then(
      function () {
        byId("join").hidden = false;
        setStatus("ready", "Inserisci il tuo nome e il PIN della sala.");
      },
      function (error) {
        fail("error", null, error.message);
      },
    );
  });
})();
