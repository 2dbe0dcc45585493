// The join screen's camera and microphone: a live preview and pickers, so people see and hear
// what they are about to send before anyone else does.

/** 720p so the camera's three simulcast layers (1/4, 1/2, full) are all worth sending. */
const VIDEO = { width: { ideal: 1280 }, height: { ideal: 720 } };

export class DevicePicker {
  /** @type {MediaStream | null} */ #stream = null;
  /** @type {Promise<MediaStream | null> | null} */ #starting = null;
  /** @type {AudioContext | null} */ #audio = null;
  /** @type {number | undefined} */ #meterFrame;
  #els;
  #onStatus;

  /**
   * @param {{preview: HTMLVideoElement, camera: HTMLSelectElement, microphone: HTMLSelectElement, meter: HTMLMeterElement}} els
   * @param {(message: string) => void} onStatus problems worth telling the user
   */
  constructor(els, onStatus) {
    this.#els = els;
    this.#onStatus = onStatus;
    els.camera.addEventListener('change', () => this.#restart());
    els.microphone.addEventListener('change', () => this.#restart());
    navigator.mediaDevices?.addEventListener('devicechange', () => this.#listDevices());
  }

  /** The preview's stream, once the devices are open. */
  get stream() { return this.#stream; }

  /** Open the chosen (or default) devices and show them. @returns {Promise<MediaStream | null>} */
  start() {
    this.#starting ??= this.#open().finally(() => { this.#starting = null; });
    return this.#starting;
  }

  /**
   * Hand the running stream over to the call: the picker forgets it, so stopping the preview
   * later does not stop the call's tracks. Waits for a start in progress.
   * @returns {Promise<MediaStream | null>}
   */
  async take() {
    if (this.#starting) await this.#starting;
    if (!this.#stream) await this.start();
    const stream = this.#stream;
    this.#stream = null;
    this.#els.preview.srcObject = null;
    this.#stopMeter();
    return stream;
  }

  /** Release the devices (camera light off). */
  stop() {
    this.#stream?.getTracks().forEach((t) => t.stop());
    this.#stream = null;
    this.#els.preview.srcObject = null;
    this.#stopMeter();
  }

  async #restart() {
    if (this.#starting) await this.#starting;
    this.stop();
    await this.start();
  }

  async #open() {
    const { camera, microphone } = this.#els;
    const exact = (/** @type {string} */ id) => (id ? { deviceId: { exact: id } } : {});
    /** @type {MediaStreamConstraints[]} */
    const attempts = [
      { video: { ...VIDEO, ...exact(camera.value) }, audio: { ...exact(microphone.value) } },
      // Missing or busy devices: still join with whatever works.
      { audio: { ...exact(microphone.value) } },
      { video: { ...VIDEO, ...exact(camera.value) } },
    ];
    /** @type {unknown} */
    let lastError = null;
    for (const constraints of attempts) {
      try {
        const stream = await navigator.mediaDevices.getUserMedia(constraints);
        this.#stream = stream;
        this.#els.preview.srcObject = stream;
        this.#els.preview.play().catch(() => {});
        if (!stream.getVideoTracks().length) this.#onStatus('No camera available: joining with audio only.');
        else if (!stream.getAudioTracks().length) this.#onStatus('No microphone available: joining with video only.');
        await this.#listDevices();
        this.#startMeter(stream);
        return stream;
      } catch (err) {
        lastError = err;
      }
    }
    this.#onStatus(`Camera and microphone unavailable (${lastError instanceof Error ? lastError.name : lastError}); you can still join to watch and listen.`);
    await this.#listDevices();
    return null;
  }

  /** Fill both pickers; device labels are only known once access was granted. */
  async #listDevices() {
    const devices = await navigator.mediaDevices.enumerateDevices().catch(() => []);
    const current = (/** @type {'audio' | 'video'} */ kind) => this.#stream?.getTracks()
      .find((t) => t.kind === kind)?.getSettings().deviceId ?? '';
    fill(this.#els.camera, devices.filter((d) => d.kind === 'videoinput'), 'Camera', current('video'));
    fill(this.#els.microphone, devices.filter((d) => d.kind === 'audioinput'), 'Microphone', current('audio'));
  }

  /** A level meter, so a wrong or silent microphone shows before joining. @param {MediaStream} stream */
  #startMeter(stream) {
    this.#stopMeter();
    const [track] = stream.getAudioTracks();
    if (!track || typeof AudioContext === 'undefined') return;
    this.#audio ??= new AudioContext();
    // Autoplay rules keep a context suspended until the page is used; any click resumes it.
    if (this.#audio.state === 'suspended') {
      const resume = () => this.#audio?.resume().catch(() => {});
      addEventListener('pointerdown', resume, { once: true });
      addEventListener('keydown', resume, { once: true });
    }
    const source = this.#audio.createMediaStreamSource(new MediaStream([track]));
    const analyser = this.#audio.createAnalyser();
    analyser.fftSize = 512;
    source.connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    const tick = () => {
      analyser.getFloatTimeDomainData(samples);
      let peak = 0;
      for (const s of samples) peak = Math.max(peak, Math.abs(s));
      this.#els.meter.value = Math.min(1, peak);
      this.#meterFrame = requestAnimationFrame(tick);
    };
    tick();
  }

  #stopMeter() {
    if (this.#meterFrame !== undefined) cancelAnimationFrame(this.#meterFrame);
    this.#meterFrame = undefined;
    this.#els.meter.value = 0;
  }
}

/**
 * @param {HTMLSelectElement} select
 * @param {MediaDeviceInfo[]} devices
 * @param {string} noun
 * @param {string} selected
 */
function fill(select, devices, noun, selected) {
  const options = devices.map((d, i) => new Option(d.label || `${noun} ${i + 1}`, d.deviceId, false, d.deviceId === selected));
  if (!options.length) options.push(new Option(`No ${noun.toLowerCase()} found`, ''));
  select.replaceChildren(...options);
  select.disabled = !devices.length;
}
